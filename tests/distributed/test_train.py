"""``mpirun -np 2 ember train`` and ``ember resume``: one run directory, written by rank 0 alone, that the
one-process commands read as any other."""

from __future__ import annotations

import json

import pytest

from ember.cli import main

from ..cli.conftest import train_args
from ..train.helpers import write_mnist_subset
from .conftest import run


@pytest.fixture(scope="module")
def distributed_run(mpirun, tmp_path_factory):
    root = write_mnist_subset(tmp_path_factory.mktemp("mnist"), train=1200, test=300)
    output = tmp_path_factory.mktemp("runs")
    finished = run(mpirun, ["-m", "ember.cli", *train_args(root, output)], timeout=300)
    return finished, output / "run"


def test_rank_0_alone_logs_and_writes_the_run(distributed_run):
    finished, directory = distributed_run
    assert finished.returncode == 0, finished.stderr
    out = finished.stdout
    assert out.count("run directory:") == 1 and out.count("test accuracy") == 1  # one process speaks
    assert out.count("epoch 2/2") == 1 and "report:" in out
    assert "processes: 2 (mpirun), 50 images of each batch in each" in out
    assert {p.name for p in (directory / "checkpoints").iterdir()} == {"best.safetensors", "last.safetensors"}
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["test"]["count"] == 300 and summary["test"]["accuracy"] > 0.5
    history = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in history] == [1, 2]
    assert 0 < history[-1]["train_accuracy"] <= 1  # the global batch's: both shards counted
    steps = (directory / "steps.csv").read_text().splitlines()
    assert len(steps) == 1 + 2 * 10  # 1000 training images, global batch 100: 10 steps an epoch


def test_the_checkpoint_is_the_plain_models(distributed_run, capsys):
    _, directory = distributed_run
    assert main(["eval", str(directory), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == json.loads((directory / "summary.json").read_text())["test"]["accuracy"]


def test_every_rank_resumes_from_the_same_checkpoint(mpirun, distributed_run):
    _, directory = distributed_run
    finished = run(mpirun, ["-m", "ember.cli", "resume", str(directory), "--epochs", "3"], timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.count("resuming from") == 1 and "epoch 3/3" in finished.stdout
    history = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in history] == [1, 2, 3]
    assert len((directory / "resumes.jsonl").read_text().splitlines()) == 1


def test_what_cannot_run_across_ranks_is_refused_before_the_run(mpirun, tmp_path):
    root = write_mnist_subset(tmp_path / "mnist", train=300, test=100)
    arguments = train_args(root, tmp_path / "runs", "--batch-size", "101", "--lr", "auto")
    finished = run(mpirun, ["-m", "ember.cli", *arguments], timeout=300)
    assert finished.returncode == 2
    assert "ember train: invalid configuration:\n  batch_size: 101 does not divide among 2 processes" in (
        finished.stderr
    )
    assert "optimizer.lr: auto (the range test) runs in one process" in finished.stderr
    assert not (tmp_path / "runs" / "run").exists()
