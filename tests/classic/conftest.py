"""Real data for the classic classifiers' tests: MNIST and Fashion-MNIST through ``ember.data``, loaded once
per test process."""

from __future__ import annotations

import pytest

from ember.data import MNIST, FashionMNIST
from tests.classic.datasets import Split, load


@pytest.fixture(scope="session")
def mnist() -> Split:
    """(train images uint8 (60000, 28, 28), train labels, test images (10000, 28, 28), test labels)."""
    return load(MNIST)


@pytest.fixture(scope="session")
def fashion_mnist() -> Split:
    return load(FashionMNIST)
