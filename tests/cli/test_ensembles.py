"""``ember train --schedule sgdr --snapshots N`` (a snapshot ensemble) and ``ember finetune`` (transfer)."""

from __future__ import annotations

import json

import numpy as np

from ember.cli import main
from ember.train import load_checkpoint

from .conftest import train_args


def test_snapshot_ensemble_run_saves_one_snapshot_per_cycle_and_measures_the_ensemble(
    mnist_root, tmp_path, capsys
):
    args = train_args(mnist_root, tmp_path, "--epochs", "4", "--schedule", "sgdr", "--snapshots", "2",
                      "--set", "schedule.options.cycles=4", "--no-report")  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    run = tmp_path / "run"
    names = sorted(path.name for path in (run / "snapshots").iterdir())
    assert names == [f"snapshot-0{i}.safetensors" for i in (1, 2, 3, 4)]  # 10 steps an epoch, a cycle each
    steps = [load_checkpoint(run / "snapshots" / name) for name in names]
    assert all(set(state) == {"model"} for state in steps)
    summary = json.loads((run / "summary.json").read_text())["snapshot_ensemble"]
    assert summary["members"] == 2 and len(summary["member_accuracy"]) == 2
    assert "snapshot ensemble of the last 2 of 4 snapshots: test accuracy" in out
    last_two = [str(run / "snapshots" / name) for name in names[-2:]]
    assert main(["eval", *last_two, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ensemble"]["accuracy"] == summary["accuracy"]


def test_finetune_linear_keeps_the_pretrained_layers_and_trains_a_new_head(
    finished_run, mnist_root, tmp_path, capsys
):
    args = ["finetune", str(finished_run), *train_args(mnist_root, tmp_path, "--strategy", "linear",
                                                        "--no-report", name="tuned")[1:]]  # fmt: skip
    args.remove("--model")
    args.remove("mlp")  # the checkpoint's model (and its hidden=[64]) is the default
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "fine-tuning (linear) from" in out
    source = load_checkpoint(finished_run / "checkpoints" / "best.safetensors")["model"]
    tuned = load_checkpoint(tmp_path / "tuned" / "checkpoints" / "last.safetensors")["model"]
    assert np.array_equal(source["1.weight"].array, tuned["1.weight"].array)  # frozen: bit-identical
    assert not np.array_equal(source["3.weight"].array, tuned["3.weight"].array)  # the new head trained
    config = (tmp_path / "tuned" / "config.yaml").read_text()
    assert "strategy: linear" in config and "model: mlp" in config


def test_finetune_from_a_model_that_does_not_fit_is_one_clear_line(
    finished_run, mnist_root, tmp_path, capsys
):
    args = ["finetune", str(finished_run), *train_args(mnist_root, tmp_path, name="other")[1:]]
    args[args.index("model_options.hidden=[64]")] = "model_options.hidden=[32]"
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("ember finetune: ") and "do not fit mlp (other shapes: 1.bias, 1.weight)" in err
    assert err.count("\n") == 1 and not (tmp_path / "other").exists()


def test_train_ensemble_trains_k_seeds_and_reports_members_and_ensemble(mnist_root, tmp_path, capsys):
    assert main(train_args(mnist_root, tmp_path, "--ensemble", "2", "--no-report", name="ens")) == 0
    out = capsys.readouterr().out
    assert {p.name for p in tmp_path.iterdir()} == {"ens-seed0", "ens-seed1", "ens-ensemble.json"}
    report = json.loads((tmp_path / "ens-ensemble.json").read_text())
    members = [
        json.loads((tmp_path / n / "summary.json").read_text())["test"]["accuracy"]
        for n in ("ens-seed0", "ens-seed1")
    ]
    assert [m["accuracy"] for m in report["members"]] == members and members[0] != members[1]
    assert "test split: 300 images, 2 models (mnist)" in out and "ensemble (mean): loss" in out
