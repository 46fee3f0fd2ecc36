"""SGD's compiled momentum step (``ember.optim._numba_sgd``) and its NumPy twin give the same numbers."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.compiled import numba_enabled
from ember.optim import SGD

SETTINGS = [
    {"momentum": 0.9},
    {"momentum": 0.9, "weight_decay": 5e-4},
    {"momentum": 0.8, "dampening": 0.3, "weight_decay": 1e-2},
    {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
    {"momentum": 0.7, "maximize": True, "weight_decay": 2e-2},
    {"momentum": 0.9, "nesterov": True, "maximize": True},
]


def trajectory(dtype, setting, steps=4):
    """Parameters and velocities after ``steps`` steps with fixed random gradients (the first step makes
    the velocity; the later ones are the compiled kernel's, where it is on)."""
    rng = np.random.default_rng(3)
    params = [ember.tensor(rng.standard_normal(shape).astype(dtype)) for shape in [(33, 17), (5,), (3, 2, 4)]]
    optimizer = SGD(params, lr=0.07, **setting)
    for _ in range(steps):
        for p in params:
            p.grad = ember.tensor(rng.standard_normal(p.shape).astype(dtype))
        optimizer.step()
    velocities = [optimizer.state[p]["momentum_buffer"].array.copy() for p in params]
    return [p.array.copy() for p in params], velocities


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: ",".join(s))
def test_compiled_and_numpy_momentum_steps_are_identical(monkeypatch, dtype, setting):
    if not numba_enabled():
        pytest.skip("numba is not installed (or EMBER_NUMBA=0)")
    compiled = trajectory(dtype, setting)
    monkeypatch.setenv("EMBER_NUMBA", "0")
    numpy = trajectory(dtype, setting)
    for a, b in zip(compiled[0] + compiled[1], numpy[0] + numpy[1], strict=True):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
