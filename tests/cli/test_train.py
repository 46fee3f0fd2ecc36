"""``ember train``: a run directory with everything in it, and configuration errors that name the field."""

from __future__ import annotations

import json

import pytest

from ember.cli import main
from ember.train.callbacks import read_csv
from ember.train.checkpoint import load_checkpoint, read_metadata

from .conftest import train_args

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_a_run_directory_holds_config_metrics_checkpoints_summary_and_report(finished_run):
    files = {p.relative_to(finished_run).as_posix() for p in finished_run.rglob("*") if p.is_file()}
    expected = {
        "config.yaml",
        "metrics.csv",
        "metrics.jsonl",
        "steps.csv",
        "summary.json",
        "checkpoints/last.safetensors",
        "checkpoints/best.safetensors",
        "report/index.html",
        "report/curves.png",
        "report/learning_rate.png",
        "report/confusion_matrix.png",
        "report/misclassified.png",
    }
    assert expected <= files
    history = read_csv(finished_run / "metrics.csv")
    assert [row["epoch"] for row in history] == [1, 2]
    assert len(read_csv(finished_run / "steps.csv")) == 2 * 10  # 1,000 training images, batches of 100
    summary = json.loads((finished_run / "summary.json").read_text())
    assert summary["test"]["count"] == 300 and summary["test"]["accuracy"] > 0.75
    assert len(summary["test"]["per_class_accuracy"]) == 10
    metadata = read_metadata(finished_run / "checkpoints" / "best.safetensors")
    assert metadata["config"]["model"] == "mlp" and metadata["classes"][0] == "0 - zero"
    state = load_checkpoint(finished_run / "checkpoints" / "last.safetensors")
    assert state["progress"]["epoch"] == 2 and state["progress"]["step"] == 20
    for png in (finished_run / "report").glob("*.png"):
        assert png.read_bytes()[:8] == PNG_SIGNATURE


def test_the_output_says_what_is_trained_and_how_well(mnist_root, tmp_path, capsys):
    assert main(train_args(mnist_root, tmp_path, "--epochs", "1", "--no-report")) == 0
    out = capsys.readouterr().out
    assert f"run directory: {tmp_path / 'run'}" in out
    assert "data: mnist, 1000 train / 200 val / 300 test, augmentation: none" in out
    assert (
        "optimizer: sgd lr 0.1, momentum 0.9 (Nesterov), weight decay 0.0005; schedule: cosine per step"
        in out
    )
    assert "epoch 1/1  train loss" in out
    assert "test accuracy" in out and "on 300 test images, best epoch 1" in out
    assert not (tmp_path / "run" / "report").exists()


def test_a_config_file_with_flags_over_it(mnist_root, tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text(
        f"dataset: mnist\ndata_root: {mnist_root}\nmodel: mlp\nmodel_options: {{hidden: [32]}}\n"
        "optimizer: {name: adam, lr: 0.002}\nschedule: {name: step, options: {step_size: 1, gamma: 0.5}}\n"
        "epochs: 5\nval_size: 100\nsubset: 500\nworkers: 0\nreport: false\n"
    )
    assert (
        main(["train", "--config", str(config), "--epochs", "2", "--output", str(tmp_path), "--name", "r"])
        == 0
    )
    saved = (tmp_path / "r" / "config.yaml").read_text()
    assert "epochs: 2" in saved and "name: adam" in saved and "lr: 0.002" in saved
    history = read_csv(tmp_path / "r" / "metrics.csv")
    assert [row["lr"] for row in history] == [0.002, 0.001]  # a step schedule halving every epoch


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lr", "-1"], "optimizer.lr: must be a number > 0, got -1"),
        (["--batch-size", "lots"], "batch_size: must be an integer, got 'lots'"),
        (["--optimizer", "adamm"], "optimizer.name: unknown value 'adamm' (did you mean 'adam'?)"),
        (["--model", "lenet55"], "model: unknown value 'lenet55'"),
        (["--augment", "crop,mirror"], "augment[1]: unknown value 'mirror'"),
        (
            ["--set", "optimizer.momentom=0.5"],
            "optimizer.momentom: unknown field (did you mean 'optimizer.momentum'?)",
        ),
        (
            ["--optimizer", "adam", "--momentum", "0.9"],
            "optimizer.momentum: the adam optimizer has no 'momentum'",
        ),
        (["--schedule", "plateau", "--schedule-interval", "step"], "schedule.interval: the plateau schedule"),
    ],
)
def test_configuration_errors_name_the_field_before_anything_runs(
    mnist_root, tmp_path, capsys, flags, message
):
    assert main(train_args(mnist_root, tmp_path, *flags)) == 2
    err = capsys.readouterr().err
    assert err.startswith("ember train: invalid configuration:") and message in err
    assert not (tmp_path / "run").exists()


def test_a_bad_config_file_is_named(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('epochs = 3\n[optimizer]\nlr = "high"\n')
    assert main(["train", "--config", str(config), "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"invalid configuration in {config}" in err and "optimizer.lr: must be a number, got 'high'" in err


def test_a_missing_data_set_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EMBER_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    empty = tmp_path / "empty"
    empty.mkdir()
    status = main(["train", "--dataset", "cifar10", "--data-root", str(empty), "--output", str(tmp_path)])
    assert status == 1
    err = capsys.readouterr().err
    assert "cifar10 not found" in err and "To get it:" in err


def test_an_existing_run_is_not_overwritten(finished_run, mnist_root, capsys):
    assert main(train_args(mnist_root, finished_run.parent)) == 2
    assert "already holds a run: continue it with 'ember resume" in capsys.readouterr().err


def test_a_diverging_run_stops_with_the_lectures_diagnosis(mnist_root, tmp_path, capsys):
    assert main(train_args(mnist_root, tmp_path, "--lr", "1e8", "--schedule", "constant")) == 3
    out = capsys.readouterr().out
    assert "the learning rate is probably too high, or the initialization is bad" in out
    assert "loss is NaN at step " in out or "loss is Inf at step " in out
