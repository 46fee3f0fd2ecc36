"""A run directory belongs to one run; a run is checked whole before its directory is made; a checkpoint
finds its data from anywhere; a diverged run says so once."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from ember.cli import main
from ember.train.callbacks import read_csv

from .children import pause_at, spawn
from .conftest import train_args


def test_a_second_run_into_a_directory_in_use_is_refused(mnist_root, tmp_path, capsys):
    first = pause_at(1, "wait", train_args(mnist_root, tmp_path, "--no-report"))  # lr 0.1, holding its run
    try:
        status = main(train_args(mnist_root, tmp_path, "--lr", "0.02", "--no-report"))
        run = tmp_path / "run"
        assert capsys.readouterr().err == (
            f"ember train: {run} is in use by another ember process (PID {first.pid}): wait for it to end, "
            "or use another run directory\n"
        )
        assert status == 1
        out, err = first.communicate("go\n", timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    # The first run's directory holds the first run's results only.
    assert "lr: 0.1" in (run / "config.yaml").read_text()
    assert [row["epoch"] for row in read_csv(run / "metrics.csv")] == [1, 2]
    accuracy = json.loads((run / "summary.json").read_text())["test"]["accuracy"]
    assert f"test accuracy {100 * accuracy:.2f}%" in out


def test_a_finished_or_non_empty_directory_is_not_reused(finished_run, mnist_root, tmp_path, capsys):
    assert main(train_args(mnist_root, finished_run.parent)) == 2
    assert capsys.readouterr().err == (
        f"ember train: {finished_run} already holds a run: continue it with 'ember resume {finished_run}', "
        "or choose another --name\n"
    )
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    assert main(train_args(mnist_root, tmp_path)) == 2
    assert capsys.readouterr().err == (
        f"ember train: {tmp_path / 'run'} is not empty (notes.txt): choose another --name, or delete the "
        "folder first\n"
    )
    assert os.listdir(tmp_path / "run") == ["notes.txt"]  # nothing written, not even a lock


def test_the_default_name_gets_a_suffix_when_taken(mnist_root, tmp_path, capsys, monkeypatch):
    from ember.train import rundir

    monkeypatch.setattr(rundir, "default_name", lambda config: "mnist-mlp-20260101-120000")
    taken = tmp_path / "mnist-mlp-20260101-120000"
    taken.mkdir()
    (taken / "config.yaml").write_text("model: mlp\n")  # another run started in the same second
    args = train_args(mnist_root, tmp_path, "--epochs", "1", "--no-report")
    args = args[: args.index("--name")]
    assert main(args) == 0
    assert f"run directory: {taken}-2 ({taken} is taken)\n" in capsys.readouterr().out
    assert (taken / "config.yaml").read_text() == "model: mlp\n"
    assert (tmp_path / f"{taken.name}-2" / "checkpoints" / "last.safetensors").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--val-size", "1200"], "val_size: 1200 held-out images leave none of 1200 to train on"),
        (["--set", "model_options.width=3"], "model_options: mlp does not accept them"),
        (["--val-size", "0", "--early-stopping", "2"], "early_stopping: needs a validation split"),
    ],
)
def test_a_run_that_cannot_start_leaves_no_directory(mnist_root, tmp_path, capsys, flags, message):
    assert main(train_args(mnist_root, tmp_path, *flags)) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_finds_its_data_from_another_folder(mnist_root, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EMBER_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    relative = os.path.relpath(mnist_root, here)
    args = train_args(mnist_root, tmp_path, "--epochs", "1", "--no-report")
    args[args.index("--data-root") + 1] = relative  # as typed: ../../mnist
    assert main(args) == 0
    assert f"data_root: {mnist_root}\n" in (tmp_path / "run" / "config.yaml").read_text()
    monkeypatch.chdir(tmp_path)  # another working directory, where the relative path leads nowhere
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run")]) == 0
    assert "test split: 300 images" in capsys.readouterr().out


def test_eval_and_report_say_how_to_point_them_at_moved_data(finished_run, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EMBER_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("ember.data.MNIST.system_dirs", ())
    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    for command in ("eval", "report"):
        assert main([command, str(run), "--data-root", str(tmp_path / "gone")]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"ember {command}: mnist not found")
        how = err.split("To get it: ")[1]
        assert "pass --data-root, or set EMBER_DATA" in how and "--download" not in how  # they do not take it


def test_a_diverging_run_says_so_once(mnist_root, tmp_path, capsys):
    assert main(train_args(mnist_root, tmp_path, "--lr", "1e8", "--schedule", "constant")) == 3
    out = capsys.readouterr().out
    diagnosis = re.findall(r"loss is (?:NaN|Inf) at step \d+: the learning rate is probably too high", out)
    assert len(diagnosis) == 1, out
    assert "no checkpoint was saved before it" in out or "the last good checkpoint is" in out


TERMINATED_WHILE_LOADING = """
import os, signal, sys
from ember.train import recipes

def load_data(config, **options):
    os.kill(os.getpid(), signal.SIGTERM)  # `kill PID` while the data is being read, before any training

recipes.load_data = load_data
from ember.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_before_training_ends_the_command_with_a_message(mnist_root, tmp_path):
    child = spawn(TERMINATED_WHILE_LOADING, train_args(mnist_root, tmp_path))
    _, err = child.communicate(timeout=120)
    assert (child.returncode, err) == (143, "ember train: terminated (SIGTERM)\n")
    assert not (tmp_path / "run").exists()
