"""Fixtures for the vision tests: the real MNIST and Fashion-MNIST folders (shared/ beside the repository)."""

from __future__ import annotations

from pathlib import Path

MNIST_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"
if not MNIST_DIR.is_dir():  # a worktree sits elsewhere; CI clones beside shared/
    MNIST_DIR = Path("/work/shared/data/mnist")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
