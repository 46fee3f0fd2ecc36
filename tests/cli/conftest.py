"""Fixtures for the command-line tests: a small real-MNIST subset on disk, and a finished tiny run."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.cli import main

from ..train.helpers import write_mnist_subset


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,200 training and 300 test images of real MNIST, as IDX files."""
    return write_mnist_subset(tmp_path_factory.mktemp("mnist"), train=1200, test=300)


def train_args(root: Path, output: Path, *extra: str, name: str = "run") -> list[str]:
    """``ember train`` on the subset with a tiny MLP: a run in a few seconds."""
    return [
        "train",
        "--dataset", "mnist",
        "--data-root", str(root),
        "--model", "mlp",
        "--set", "model_options.hidden=[64]",
        "--epochs", "2",
        "--lr", "0.1",
        "--augment", "none",
        "--batch-size", "100",
        "--val-size", "200",
        "--workers", "0",
        "--output", str(output),
        "--name", name,
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def finished_run(mnist_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run directory (2 epochs), shared by the eval, predict and report tests."""
    output = tmp_path_factory.mktemp("runs")
    assert main(train_args(mnist_root, output)) == 0
    return output / "run"
