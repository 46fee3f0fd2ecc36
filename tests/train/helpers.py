"""Shared pieces of the training tests: a small real-MNIST subset on disk and tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ember
from ember import nn

from ..data.conftest import idx_bytes, mnist_arrays  # the real MNIST, read once per test process


def write_mnist_subset(folder: Path, train: int = 1200, test: int = 300) -> Path:
    """The first ``train`` / ``test`` images of real MNIST as uncompressed IDX files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, count, prefix in ((True, train, "train"), (False, test, "t10k")):
        images, labels = mnist_arrays(split)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images[:count].astype(np.uint8)))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels[:count].astype(np.uint8)))
    return folder


def mnist_tensors(count: int, train: bool = True, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` real MNIST images as normalized float32 N x 1 x 28 x 28 and int64 labels."""
    images, labels = mnist_arrays(train)
    x = (images[offset : offset + count].astype(np.float32) / 255 - 0.1307) / 0.3081
    return x[:, None], labels[offset : offset + count].astype(np.int64)


def tiny_mlp(hidden: int = 32, dropout: float = 0.1) -> nn.Module:
    """784 -> hidden -> 10 with batch norm and dropout (both carry state or randomness a resume must keep)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, 10),
    )


def same_state(first: dict, second: dict) -> bool:
    """Bit-for-bit equality of two state dicts (tensors compared by their bytes)."""
    if first.keys() != second.keys():
        return False
    return all(np.array_equal(_data(first[k]), _data(second[k])) for k in first)


def _data(value: object) -> np.ndarray:
    return value.array if isinstance(value, ember.Tensor) else np.asarray(value)
