"""Real data for the classic classifiers' tests: MNIST and Fashion-MNIST through ``ember.data``, loaded once
per test process; and one BLAS thread per pytest-xdist worker."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits

from ember.data import MNIST, FashionMNIST
from tests.classic.datasets import Split, load


@pytest.fixture(scope="session")
def mnist() -> Split:
    """(train images uint8 (60000, 28, 28), train labels, test images (10000, 28, 28), test labels)."""
    return load(MNIST)


@pytest.fixture(scope="session")
def fashion_mnist() -> Split:
    return load(FashionMNIST)


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
