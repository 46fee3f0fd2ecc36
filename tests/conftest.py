"""Test configuration: hypothesis profiles, and a fixed seed for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

import ember

settings.register_profile(
    "default", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    ember.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread_per_worker() -> Iterator[None]:
    # Under pytest-xdist the workers already share the cores; a multi-threaded BLAS in each of them
    # oversubscribes the machine, and OpenBLAS's spinning threads then make small matrix products tens of
    # times slower.
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
