"""Type promotion, comparisons and conversions, as PyTorch does them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.helpers import check_parity


@pytest.mark.parametrize(
    ("make", "torch_make"),
    [
        (lambda: ember.ones(2) * 2.5, lambda: torch.ones(2) * 2.5),
        (lambda: ember.tensor([1, 2]) * 0.5, lambda: torch.tensor([1, 2]) * 0.5),
        (lambda: ember.tensor([1, 2]) + 1, lambda: torch.tensor([1, 2]) + 1),
        (lambda: ember.tensor([1, 2]) / 2, lambda: torch.tensor([1, 2]) / 2),
        (lambda: ember.tensor([1, 2]) + ember.ones(2), lambda: torch.tensor([1, 2]) + torch.ones(2)),
        (
            lambda: ember.ones(2) + ember.ones(2, dtype=ember.float64),
            lambda: torch.ones(2) + torch.ones(2).double(),
        ),
        (lambda: ember.tensor([True, False]) + 1, lambda: torch.tensor([True, False]) + 1),
        (lambda: ember.ones(2) * np.float64(3.0), lambda: torch.ones(2) * np.float64(3.0)),
        (lambda: np.ones(2, dtype=np.float32) * ember.ones(2), lambda: torch.ones(2) * torch.ones(2)),
        (lambda: ember.arange(4), lambda: torch.arange(4)),
        (lambda: ember.arange(0, 1, 0.25), lambda: torch.arange(0, 1, 0.25)),
        (lambda: ember.tensor([1.5, 2.0]), lambda: torch.tensor([1.5, 2.0])),
        (lambda: ember.full((2,), 3), lambda: torch.full((2,), 3)),
    ],
)
def test_result_types_match_pytorch(make, torch_make):
    result, expected = make(), torch_make()
    assert isinstance(result, ember.Tensor)
    assert result.dtype == expected.numpy().dtype
    np.testing.assert_array_equal(result.array, expected.numpy())


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_give_booleans_without_gradient(op):
    a, b = np.array([1.0, 2.0, 3.0], dtype=np.float32), np.array([2.0, 2.0, 2.0], dtype=np.float32)
    result = getattr(ember.tensor(a, requires_grad=True), f"__{op}__")(ember.tensor(b))
    expected = getattr(torch.tensor(a), f"__{op}__")(torch.tensor(b))
    assert result.dtype == np.bool_ and not result.requires_grad
    np.testing.assert_array_equal(result.array, expected.numpy())


def test_logical_operators():
    a, b = ember.tensor([True, False, True]), ember.tensor([True, True, False])
    np.testing.assert_array_equal((a & b).array, [True, False, False])
    np.testing.assert_array_equal((a | b).array, [True, True, True])
    np.testing.assert_array_equal((~a).array, [False, True, False])


def test_float_conversion_is_differentiable():
    x = np.array([1.0, -2.0], dtype=np.float32)
    check_parity(lambda t: t.double() * 2, lambda t: t.double() * 2, [x])
    check_parity(lambda t: t.double().float() ** 2, lambda t: t.double().float() ** 2, [x])


def test_clone_is_a_copy_that_passes_gradients():
    x = ember.ones(2, requires_grad=True)
    y = x.clone()
    assert y.array is not x.array
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [3.0, 3.0])
