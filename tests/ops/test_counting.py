"""unique and bincount (values, int64 counts and inverse indices) against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import ember


def same(result, expected):
    """Ember's tensors equal PyTorch's: values, shape and dtype."""
    results = result if isinstance(result, tuple) else (result,)
    expecteds = expected if isinstance(expected, tuple) else (expected,)
    assert len(results) == len(expecteds)
    for r, e in zip(results, expecteds, strict=True):
        assert r.dtype == e.numpy().dtype, f"{r.dtype} != {e.dtype}"
        np.testing.assert_array_equal(r.array, e.numpy())


small_integers = arrays(
    np.int64, array_shapes(min_dims=1, max_dims=3, max_side=5), elements=st.integers(-3, 3)
)


@given(values=small_integers, inverse=st.booleans(), counts=st.booleans())
def test_unique_of_all_elements_matches_pytorch(values, inverse, counts):
    expected = torch.unique(torch.from_numpy(values), return_inverse=inverse, return_counts=counts)
    same(ember.unique(ember.tensor(values), return_inverse=inverse, return_counts=counts), expected)
    same(ember.tensor(values).unique(True, inverse, counts), expected)


@given(values=arrays(np.int64, (5, 3), elements=st.integers(0, 1)), dim=st.sampled_from([0, 1, -1]))
def test_unique_slices_along_a_dimension_match_pytorch(values, dim):
    expected = torch.unique(torch.from_numpy(values), return_inverse=True, return_counts=True, dim=dim)
    same(ember.unique(ember.tensor(values), return_inverse=True, return_counts=True, dim=dim), expected)


def test_unique_of_floats_keeps_the_type():
    values = np.array([0.5, -1.0, 0.5, 2.0], np.float32)
    same(ember.unique(ember.tensor(values)), torch.unique(torch.from_numpy(values)))


@given(
    values=arrays(np.int64, st.integers(0, 12), elements=st.integers(0, 6)),
    minlength=st.integers(0, 9),
    weights=st.sampled_from([None, np.float32, np.float64, np.int64]),
)
def test_bincount_matches_pytorch(values, minlength, weights):
    if weights is None:
        expected = torch.bincount(torch.from_numpy(values), minlength=minlength)
        same(ember.bincount(ember.tensor(values), minlength=minlength), expected)
        return
    w = (np.arange(values.size) % 5 - 1.5).astype(weights) if weights != np.int64 else np.arange(values.size)
    expected = torch.bincount(torch.from_numpy(values), torch.from_numpy(w), minlength)
    same(ember.tensor(values).bincount(ember.tensor(w), minlength), expected)


def test_bincount_confusion_matrix_as_torchvisions_segmentation_reference():
    target, pred, n = ember.tensor([0, 1, 2, 2, 1]), ember.tensor([0, 2, 2, 2, 1]), 3
    matrix = ember.bincount(n * target + pred, minlength=n**2).reshape(n, n)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 2]]


def test_bincount_refuses_what_pytorch_refuses():
    with pytest.raises(RuntimeError, match="non-negative integers, got a smallest value of -1"):
        ember.bincount(ember.tensor([-1, 2]))
    with pytest.raises(RuntimeError, match=r"1-d tensor of non-negative integers, got shape \(1, 1\)"):
        ember.bincount(ember.tensor([[1]]))
    with pytest.raises(RuntimeError, match=r"got shape .* of float32"):
        ember.bincount(ember.tensor([1.0]))
    with pytest.raises(RuntimeError, match=r"weights must have the input's shape \(2,\)"):
        ember.bincount(ember.tensor([1, 2]), ember.ones(3))
