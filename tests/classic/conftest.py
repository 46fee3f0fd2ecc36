"""Real data for the classic classifiers' tests: MNIST and Fashion-MNIST, loaded once per test process."""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

MNIST_ROOT = Path("/work/shared/data/mnist")
FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")


def _read_idx(path: Path) -> np.ndarray:
    # Temporary: replaced by ember.data's MNIST / FashionMNIST once that branch is merged.
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


@functools.cache
def _load(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    names = ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")
    arrays = [_read_idx(root / f"{name}-ubyte.gz") for name in names]
    return arrays[0], arrays[1].astype(np.int64), arrays[2], arrays[3].astype(np.int64)


@pytest.fixture(scope="session")
def mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images uint8 (60000, 28, 28), train labels, test images (10000, 28, 28), test labels)."""
    return _load(MNIST_ROOT)


@pytest.fixture(scope="session")
def fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return _load(FASHION_ROOT)


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread_per_worker() -> Iterator[None]:
    # Under pytest-xdist the workers already share the cores; a multi-threaded BLAS in each of them
    # oversubscribes the machine, and OpenBLAS's spinning threads then make small matrix products (the
    # mini-batch SGD steps) tens of times slower.
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
