"""Real data for the classic classifiers' tests: MNIST and Fashion-MNIST through ``ember.data``, loaded once
per test process; and one BLAS thread per pytest-xdist worker."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from ember.data import MNIST, FashionMNIST

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
if not DATA_DIR.is_dir():  # a worktree sits elsewhere; CI clones beside shared/
    DATA_DIR = Path("/work/shared/data")

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@functools.cache
def _load(dataset: type[MNIST]) -> Split:
    # MNIST from the shared copy; Fashion-MNIST from Debian's package, which ember.data finds by itself.
    root = DATA_DIR if dataset is MNIST else None
    train, test = dataset(root, train=True), dataset(root, train=False)
    return train.data, np.asarray(train.targets), test.data, np.asarray(test.targets)


@pytest.fixture(scope="session")
def mnist() -> Split:
    """(train images uint8 (60000, 28, 28), train labels, test images (10000, 28, 28), test labels)."""
    return _load(MNIST)


@pytest.fixture(scope="session")
def fashion_mnist() -> Split:
    return _load(FashionMNIST)


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
