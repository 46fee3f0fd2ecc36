"""Gradient clipping against ``torch.nn.utils``: the same clipped gradients and the same total norm."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ember
import ember.nn
import ember.nn.utils


def _pair(grads: list[np.ndarray]) -> tuple[list[Any], list[Any]]:
    ours, theirs = [], []
    for grad in grads:
        p = ember.nn.Parameter(ember.zeros(grad.shape))
        p.grad = ember.tensor(grad.copy())
        ours.append(p)
        q = torch.nn.Parameter(torch.zeros(grad.shape))
        q.grad = torch.from_numpy(grad.copy())
        theirs.append(q)
    return ours, theirs


gradient_lists = st.lists(
    hnp.arrays(np.float32, hnp.array_shapes(max_dims=3, max_side=6), elements=st.floats(-100, 100, width=32)),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(
    grads=gradient_lists,
    max_norm=st.floats(1e-3, 1e3),
    norm_type=st.sampled_from([1.0, 2.0, 3.0, 0.5, float("inf")]),
)
def test_clip_grad_norm_matches_pytorch(grads: list[np.ndarray], max_norm: float, norm_type: float) -> None:
    ours, theirs = _pair(grads)
    total = ember.nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total.dtype == np.float32 and total.shape == ()
    np.testing.assert_allclose(total.array, expected.numpy(), rtol=1e-5)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad.array, q.grad.numpy(), rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(grads=gradient_lists, clip_value=st.floats(0.0, 50.0))
def test_clip_grad_value_matches_pytorch(grads: list[np.ndarray], clip_value: float) -> None:
    ours, theirs = _pair(grads)
    assert ember.nn.utils.clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(p.grad.array, q.grad.numpy())


def test_clip_grad_norm_leaves_small_gradients_and_takes_one_tensor_or_a_generator() -> None:
    ours, _ = _pair([np.array([3.0, 4.0], np.float32)])
    total = ember.nn.utils.clip_grad_norm_(ours[0], max_norm=10.0)
    assert float(total) == 5.0 and np.allclose(ours[0].grad.array, [3.0, 4.0])
    total = ember.nn.utils.clip_grad_norm_(iter(ours), max_norm=1.0)
    assert float(total) == 5.0 and np.allclose(ours[0].grad.array, [0.6, 0.8], rtol=1e-5)


def test_parameters_without_gradients_are_ignored() -> None:
    ours, _ = _pair([np.array([3.0, 4.0], np.float32)])
    ours.append(ember.nn.Parameter(ember.ones(2)))
    assert float(ember.nn.utils.clip_grad_norm_(ours, 1.0)) == 5.0
    assert float(ember.nn.utils.clip_grad_norm_([ember.nn.Parameter(ember.ones(2))], 1.0)) == 0.0


def test_non_finite_norm() -> None:
    ours, theirs = _pair([np.array([np.inf, 1.0], np.float32)])
    with pytest.raises(RuntimeError, match="non-finite"):
        ember.nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    total = ember.nn.utils.clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert np.isinf(total.array) and np.isinf(expected.numpy())
    np.testing.assert_array_equal(ours[0].grad.array, theirs[0].grad.numpy())
