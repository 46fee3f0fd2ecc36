"""``ember doctor``, ``ember train --lr auto`` and ``ember train --monitor`` on a small real-MNIST subset."""

from __future__ import annotations

import json

import yaml

from ember.cli import main
from ember.train.checkpoint import load_checkpoint

from ..train.helpers import same_state
from .conftest import train_args

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def doctor_args(root, output, *extra):
    """``ember doctor`` with the flags of ``train_args`` (the same table): a tiny MLP on the subset."""
    flags = train_args(root, output)[1:]
    name = flags.index("--name")
    return ["doctor", *flags[:name], *flags[name + 2 :], *extra]


def test_doctor_passes_a_healthy_setup_and_writes_its_report(mnist_root, tmp_path, capsys):
    report = tmp_path / "report"
    assert main(doctor_args(mnist_root, tmp_path, "--report-dir", str(report))) == 0
    out = capsys.readouterr().out
    assert "doctor: mlp (50,890 parameters) on mnist (1000 training images), sgd lr 0.1" in out
    for number, check in enumerate(
        [
            "initial loss",
            "regularization",
            "overfit a small sample",
            "learning-rate range test",
            "layer statistics",
        ],
        1,
    ):
        assert f"[{number}/5] ok   {check}: " in out
    assert "doctor: 5 of 5 checks passed" in out and f"report: {report / 'index.html'}" in out
    findings = json.loads((report / "findings.json").read_text())
    assert findings["ok"] and findings["findings"][0]["check"] == "initial loss"
    for picture in ("lr_find.png", "overfit.png", "layer_statistics.png"):
        assert (report / picture).read_bytes()[:8] == PNG_SIGNATURE
    page = (report / "index.html").read_text()
    assert "Ember doctor: mlp on mnist" in page and page.count("data:image/png;base64,") == 3


def test_doctor_flags_a_learning_rate_of_10(mnist_root, tmp_path, capsys):
    args = doctor_args(mnist_root, tmp_path, "--lr", "10", "--checks", "overfit,lr-find", "--no-report")
    assert main(args) == 4
    out = capsys.readouterr().out
    assert "FLAG overfit a small sample: loss explodes" in out and "learning rate too high (lr 10)" in out
    assert "the configured rate 10 is where the loss explodes" in out
    assert "doctor: 0 of 2 checks passed" in out and "flagged: overfit a small sample" in out
    assert not list(tmp_path.iterdir())  # --no-report: nothing written


def test_doctor_reads_a_run_directory_and_refuses_unknown_checks(finished_run, capsys):
    assert main(["doctor", str(finished_run), "--checks", "initial-loss", "--no-report"]) == 0
    assert "doctor: mlp (50,890 parameters) on mnist" in capsys.readouterr().out
    assert main(["doctor", str(finished_run), "--checks", "initial-loss,x-ray"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ember doctor: invalid configuration") and "unknown check(s) x-ray" in err
    assert "Traceback" not in err
    assert main(["doctor", str(finished_run / "checkpoints")]) == 2
    assert "not a run directory (no config.yaml)" in capsys.readouterr().err


def test_train_lr_auto_trains_at_the_verified_rate_as_lr_rate_would(mnist_root, tmp_path, capsys):
    assert main(train_args(mnist_root, tmp_path, "--lr", "auto", name="auto")) == 0
    out = capsys.readouterr().out
    assert "lr auto: the range test from 1e-07 to 10" in out and "training at lr " in out
    run = tmp_path / "auto"
    config = yaml.safe_load((run / "config.yaml").read_text())
    lr = config["optimizer"]["lr"]
    assert isinstance(lr, float) and config["lr_finder"] is False
    found = json.loads((run / "lr_find.json").read_text())
    assert lr == found["numbers"]["verified_lr"] and lr in [trial[0] for trial in found["trials"]]
    assert (run / "report" / "lr_find.png").read_bytes()[:8] == PNG_SIGNATURE
    assert "Learning rate chosen by the range test" in (run / "report" / "index.html").read_text()
    # the range test leaves everything as it was: the run is the one --lr <that rate> makes
    assert main(train_args(mnist_root, tmp_path, "--lr", repr(lr), "--no-report", name="fixed")) == 0
    auto = load_checkpoint(run / "checkpoints" / "last.safetensors")["model"]
    fixed = load_checkpoint(tmp_path / "fixed" / "checkpoints" / "last.safetensors")["model"]
    assert same_state(auto, fixed)


def test_train_monitor_logs_each_epoch_and_changes_nothing(mnist_root, tmp_path, finished_run, capsys):
    assert main(train_args(mnist_root, tmp_path, "--monitor", name="watched")) == 0
    run = tmp_path / "watched"
    records = [json.loads(line) for line in (run / "monitor.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in records] == [1, 2]
    assert set(records[0]["update_ratios"]) == {"1.weight", "3.weight"}
    assert 0 <= records[1]["layers"]["2"][2] < 0.5  # the ReLU layer: few dead units
    assert (run / "report" / "monitor.png").read_bytes()[:8] == PNG_SIGNATURE
    assert list((run / "tensorboard" / "monitor").iterdir())
    assert "monitor:" not in capsys.readouterr().out  # a healthy run: no warnings
    watched = load_checkpoint(run / "checkpoints" / "last.safetensors")["model"]
    plain = load_checkpoint(finished_run / "checkpoints" / "last.safetensors")["model"]
    assert same_state(watched, plain)


def test_the_help_names_the_checks_the_doctor_runs():
    """cli/doctor.py spells the names out (importing the doctor for them would slow every command)."""
    from ember.cli.doctor import CHECK_NAMES
    from ember.train.doctor import CHECKS

    assert ", ".join(CHECKS) == CHECK_NAMES
