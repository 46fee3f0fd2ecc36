"""The data of the classic tests: where MNIST lives, loading it once per process, preprocessing."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ember.data import MNIST

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
if not DATA_DIR.is_dir():  # a worktree sits elsewhere; CI clones beside shared/
    DATA_DIR = Path("/work/shared/data")

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@functools.cache
def load(dataset: type[MNIST]) -> Split:
    # MNIST from the shared copy; Fashion-MNIST from Debian's package, which ember.data finds by itself.
    root = DATA_DIR if dataset is MNIST else None
    train, test = dataset(root, train=True), dataset(root, train=False)
    return train.data, np.asarray(train.targets), test.data, np.asarray(test.targets)


def pixels(images: np.ndarray, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flattened float32 pixels in [0, 1] minus the (training) mean image, and that mean."""
    x = images.reshape(len(images), -1).astype(np.float32) / 255
    mean = x.mean(axis=0) if mean is None else mean
    return x - mean, mean
