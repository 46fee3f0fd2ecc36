"""Rounding (floor, ceil, trunc, round with decimals): PyTorch's values and its zero gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.helpers import check_gradients, check_parity

ROUNDINGS = ["floor", "ceil", "trunc", "round"]


def away_from_steps(shape, seed, scale=1.0):
    """Values k + u with 0.1 <= u <= 0.4 or 0.6 <= u <= 0.9 (times ``scale``): no step of floor, ceil,
    trunc or round within reach of a gradcheck step or of float rounding."""
    rng = np.random.default_rng(seed)
    fraction = rng.uniform(0.1, 0.4, shape) + 0.5 * rng.integers(0, 2, shape)
    return ((rng.integers(-5, 5, shape) + fraction) * scale).astype(np.float32)


@pytest.mark.parametrize("name", ROUNDINGS)
def test_rounding_matches_pytorch_with_a_zero_gradient(name):
    x = away_from_steps((3, 4), seed=1)
    check_parity(getattr(ember, name), getattr(torch, name), [x])
    check_parity(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), [x])
    check_gradients(lambda t: getattr(ember, name)(t) * t, [x])  # d(step(x) x) = step(x): the step's is 0


@pytest.mark.parametrize("decimals", [1, 2, -1])
def test_round_with_decimals_matches_pytorch(decimals):
    x = away_from_steps((3, 4), seed=decimals + 3, scale=10.0**-decimals)
    check_parity(lambda t: t.round(decimals=decimals), lambda t: t.round(decimals=decimals), [x])
    check_gradients(lambda t: ember.round(t, decimals=decimals) * t, [x])


def test_round_takes_halves_to_even_as_pytorch():
    halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], np.float32)
    assert ember.tensor(halves).round().tolist() == torch.from_numpy(halves).round().tolist()


@pytest.mark.parametrize("name", ROUNDINGS)
def test_integers_stay_integers_and_in_place_forms(name):
    ints = ember.tensor([3, -2])
    assert getattr(ints, name)().dtype == ember.int64 and getattr(ints, name)().tolist() == [3, -2]
    x = ember.tensor([1.7, -1.2])
    assert getattr(x, name + "_")() is x
    assert x.tolist() == getattr(torch.tensor([1.7, -1.2]), name)().tolist()
    y = ember.tensor([1.7, -1.2], requires_grad=True) * 1  # in place on an intermediate still differentiates
    getattr(y, name + "_")()
    y.sum().backward()


def test_rounding_writes_into_out_and_refuses_decimals_on_integers():
    out = ember.empty(2)
    assert ember.floor(ember.tensor([1.5, -0.5]), out=out) is out and out.tolist() == [1.0, -1.0]
    with pytest.raises(RuntimeError, match="round: decimals=1 needs a floating-point tensor"):
        ember.tensor([1, 2]).round(decimals=1)
