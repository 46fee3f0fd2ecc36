"""The lectures' claims about the update rules, as tests on a 2-D ill-conditioned quadratic and a saddle.

- momentum and Nesterov momentum reach a given loss in fewer steps than plain SGD at the same learning rate;
- AdaGrad's effective step ``lr / sqrt(cache)`` only shrinks, RMSprop's leaky cache lets it recover;
- Adam's bias correction makes its first step ``lr`` in every coordinate, whatever the gradient's scale;
- the lecture's other forms of momentum and Nesterov are the same iteration as PyTorch's (SGD's docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ember
import ember.nn
import ember.optim
from ember.nn import Parameter

CURVATURES = (1.0, 100.0)  # condition number 100


def ravine(x: ember.Tensor) -> ember.Tensor:
    """0.5 (x0^2 + 100 x1^2): steep across, shallow along."""
    return 0.5 * (CURVATURES[0] * x[0] * x[0] + CURVATURES[1] * x[1] * x[1])


def saddle(x: ember.Tensor) -> ember.Tensor:
    """x0^2 - x1^2: a saddle at the origin, left along x1."""
    return x[0] * x[0] - x[1] * x[1]


def steps_to_reach(
    loss_fn: Callable[[ember.Tensor], ember.Tensor], start: list[float], target: float, **options: Any
) -> int:
    x = Parameter(ember.tensor(start))
    optimizer = ember.optim.SGD([x], **options)
    for step in range(1, 5001):
        optimizer.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        optimizer.step()
        if float(loss_fn(x)) < target:
            return step
    return 5001


@pytest.mark.parametrize(
    ("loss_fn", "start", "target"),
    [(ravine, [10.0, 1.0], 1e-3), (saddle, [1.0, 1e-3], -100.0)],
    ids=["ravine", "saddle"],
)
def test_momentum_and_nesterov_need_fewer_steps_than_sgd(
    loss_fn: Callable[[ember.Tensor], ember.Tensor], start: list[float], target: float
) -> None:
    lr = 0.01  # stable on the ravine for all three (Nesterov needs lr * 100 < 2 (1 + mu) / (1 + 2 mu))
    plain = steps_to_reach(loss_fn, start, target, lr=lr)
    momentum = steps_to_reach(loss_fn, start, target, lr=lr, momentum=0.9)
    nesterov = steps_to_reach(loss_fn, start, target, lr=lr, momentum=0.9, nesterov=True)
    assert plain < 5001, "plain SGD should get there too, only slower"
    assert momentum < plain / 2
    assert nesterov < plain / 2


def test_adagrad_step_shrinks_while_rmsprop_recovers() -> None:
    """The effective learning rate per coordinate, lr / (sqrt(cache) + eps), read from the state."""

    def effective_rates(optimizer_class: Any, cache_key: str, **options: Any) -> np.ndarray:
        x = Parameter(ember.tensor([10.0, 1.0]))
        optimizer = optimizer_class([x], lr=0.1, **options)
        rates = []
        for _ in range(300):
            optimizer.zero_grad()
            ravine(x).backward()
            optimizer.step()
            rates.append(0.1 / (np.sqrt(optimizer.state[x][cache_key].array) + optimizer.defaults["eps"]))
        return np.array(rates)

    adagrad = effective_rates(ember.optim.Adagrad, "sum")
    assert np.all(np.diff(adagrad, axis=0) <= 0)  # never grows
    assert np.all(adagrad[-1] < adagrad[9])  # and did shrink
    rmsprop = effective_rates(ember.optim.RMSprop, "square_avg", alpha=0.9)
    assert np.all(rmsprop[-1] > rmsprop[9])  # gradients fell, the leaky cache forgot the big ones
    assert np.all(rmsprop[-1] > adagrad[-1] * 50)


@settings(max_examples=30, deadline=None)
@given(
    gradient=hnp.arrays(
        np.float32,
        st.integers(1, 6),
        elements=st.floats(0.0009765625, 1024.0, width=32).flatmap(lambda v: st.sampled_from([v, -v])),
    ),
    lr=st.floats(1e-4, 1e-1),
    betas=st.tuples(st.floats(0.0, 0.99), st.floats(0.5, 0.9999)),
)
def test_adams_first_step_is_lr_in_every_coordinate(gradient: np.ndarray, lr: float, betas: Any) -> None:
    x = Parameter(ember.zeros(gradient.shape))
    x.grad = ember.tensor(gradient)
    ember.optim.Adam([x], lr=lr, betas=betas).step()
    np.testing.assert_allclose(x.array, -lr * np.sign(gradient), rtol=1e-4)


def _gradients(n: int) -> list[np.ndarray]:
    return list(np.random.default_rng(0).standard_normal((n, 5)).astype(np.float32))


def _pytorch_form(lrs: list[float], mu: float, nesterov: bool) -> np.ndarray:
    """Ember's SGD, fed a fixed sequence of gradients with the given learning rate at each step."""
    x = Parameter(ember.zeros(5))
    optimizer = ember.optim.SGD([x], lr=lrs[0], momentum=mu, nesterov=nesterov)
    for lr, gradient in zip(lrs, _gradients(len(lrs)), strict=True):
        optimizer.param_groups[0]["lr"] = lr
        x.grad = ember.tensor(gradient)
        optimizer.step()
    return x.array.astype(np.float64)


def _lecture_form(lrs: list[float], mu: float, nesterov: bool) -> np.ndarray:
    """``v = mu v - lr dx; x += v`` and, for Nesterov, ``x += -mu v_prev + (1 + mu) v``; in float64."""
    x, v = np.zeros(5), np.zeros(5)
    for lr, dx in zip(lrs, _gradients(len(lrs)), strict=True):
        v_prev = v
        v = mu * v - lr * dx
        x += -mu * v_prev + (1 + mu) * v if nesterov else v
    return x


@pytest.mark.parametrize("nesterov", [False, True])
def test_the_lectures_momentum_forms_are_pytorchs_at_constant_lr(nesterov: bool) -> None:
    lrs = [0.05] * 100
    np.testing.assert_allclose(
        _pytorch_form(lrs, 0.9, nesterov), _lecture_form(lrs, 0.9, nesterov), rtol=1e-5, atol=1e-5
    )
    # When the rate changes they part: the lecture's velocity carries the old rates.
    decayed = [0.05 * 0.5 ** (t // 20) for t in range(100)]
    difference = np.abs(_pytorch_form(decayed, 0.9, nesterov) - _lecture_form(decayed, 0.9, nesterov)).max()
    assert difference > 1e-2
