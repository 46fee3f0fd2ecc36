"""Fixtures of the model tests: fast initialization for the big networks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from ember.nn import init

# Drawing 138M random values for VGG-16 takes seconds; a fixed pool of 2**20 draws, scaled and copied
# block by block into the tensor, has the same statistics at the cost of one pass over memory.
_RNG = np.random.default_rng(0)
_NORMAL = _RNG.standard_normal(2**20, dtype=np.float32)
_UNIFORM = _RNG.random(2**20, dtype=np.float32)


def _fill(
    tensor: Any, pool: np.ndarray, scale: float, shift: float, low: float = -np.inf, high: float = np.inf
) -> Any:
    block = np.clip(pool * np.float32(scale) + np.float32(shift), low, high).astype(tensor.dtype)
    flat = tensor.array.reshape(-1)
    for start in range(0, flat.size, block.size):
        flat[start : start + block.size] = block[: flat.size - start]
    return tensor


def _normal(tensor: Any, mean: float = 0.0, std: float = 1.0, *args: Any, **kwargs: Any) -> Any:
    return _fill(tensor, _NORMAL, std, mean)


def _uniform(tensor: Any, a: float = 0.0, b: float = 1.0, *args: Any, **kwargs: Any) -> Any:
    return _fill(tensor, _UNIFORM, b - a, a)


def _trunc_normal(
    tensor: Any, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, **kwargs: Any
) -> Any:
    return _fill(tensor, _NORMAL, std, mean, a, b)


def _skip(tensor: Any, *args: Any, **kwargs: Any) -> Any:
    return tensor


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    """One BLAS thread (and so one kernel thread) per test: ``pytest -n 2`` already runs two workers on the
    two cores, and nested threads only contend (this suite took 177 s of CPU with two BLAS threads per
    worker and 85 s with one, on the same loaded machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def fast_init(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Ember's initializers draw from a fixed pool instead of the generator (same scales, much faster)."""
    monkeypatch.setattr(init, "normal_", _normal)
    monkeypatch.setattr(init, "uniform_", _uniform)
    monkeypatch.setattr(init, "trunc_normal_", _trunc_normal)
    yield


@pytest.fixture
def skip_init(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No initialization at all: for models whose weights are loaded right after they are built."""
    for name in ("normal_", "uniform_", "trunc_normal_"):
        monkeypatch.setattr(init, name, _skip)
    yield
