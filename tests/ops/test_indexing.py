"""Indexing (basic, integer arrays, boolean masks, mixed), gather, and their scatter-add backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import ember
from tests.helpers import check_gradients, check_parity, random_array

INDICES = {
    "int": lambda m: 1,
    "negative_int": lambda m: (-1, 2),
    "slices": lambda m: (slice(None, None, 2), slice(1, 3)),
    "none_ellipsis": lambda m: (None, Ellipsis, 0),
    "int_array_repeats": lambda m: m.tensor([0, 2, 0, 0]),
    "two_arrays": lambda m: (m.tensor([0, 1, 1]), m.tensor([3, 0, 3])),
    "array_and_slice": lambda m: (slice(1, 3), m.tensor([[0, 1], [1, 1]])),
    "bool_mask": lambda m: m.tensor(np.array([[True, False, True, False, True]] * 3)),
    "bool_rows": lambda m: m.tensor(np.array([True, False, True])),
    "list": lambda m: [2, 0],
}


@pytest.mark.parametrize("name", sorted(INDICES))
def test_getitem(name):
    x = random_array((3, 5))
    check_parity(lambda t: t[INDICES[name](ember)], lambda t: t[INDICES[name](torch)], [x])
    check_gradients(lambda t: t[INDICES[name](ember)], [x])


@given(seed=st.integers(0, 2**16), rows=st.lists(st.integers(-4, 3), min_size=1, max_size=8))
def test_integer_array_indexing_accumulates_repeats(seed, rows):
    x = random_array((4, 3), seed=seed)
    check_parity(lambda t: t[ember.tensor(rows)], lambda t: t[torch.tensor(rows)], [x])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(dim):
    x = random_array((3, 4))
    rng = np.random.default_rng(dim + 5)
    index = rng.integers(0, x.shape[dim], size=(3, 4) if dim == 0 else (3, 2))
    check_parity(
        lambda t: t.gather(dim, ember.tensor(index)), lambda t: t.gather(dim, torch.tensor(index)), [x]
    )
    check_gradients(lambda t: t.gather(dim, ember.tensor(index)), [x])


def test_gather_with_an_index_smaller_than_the_input():
    x = random_array((4, 5))
    index = np.array([[0, 4], [1, 1]])
    check_parity(lambda t: t.gather(1, ember.tensor(index)), lambda t: t.gather(1, torch.tensor(index)), [x])


def test_negative_step_slices_which_torch_lacks():
    x = random_array((3, 5))
    np.testing.assert_array_equal(ember.tensor(x)[:, ::-2].array, x[:, ::-2])
    check_gradients(lambda t: t[:, ::-2], [x])


def test_index_errors_are_clear():
    with pytest.raises(IndexError, match=r"index \[5\] into a tensor of shape \(3, 4\)"):
        ember.ones(3, 4)[5]
    with pytest.raises(IndexError, match=r"gather: index values must lie in \[0, 4\)"):
        ember.ones(3, 4).gather(1, ember.tensor([[4]]))
    with pytest.raises(IndexError, match="integers or booleans"):
        ember.ones(3)[ember.tensor([0.5])]


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select_with_repeats_matches_pytorch(dim):
    x = random_array((3, 4, 2), seed=dim % 3)
    index = np.array([1, 0, 1, 1], np.int64)[: x.shape[dim]]
    check_gradients(lambda t: ember.index_select(t, dim, ember.tensor(index)), [x])
    check_parity(
        lambda t: t.index_select(dim, ember.tensor(index)),
        lambda t: t.index_select(dim, torch.from_numpy(index)),
        [x],
    )


def test_index_select_errors_are_pytorchs():
    with pytest.raises(IndexError, match=r"index_select: index values must lie in \[0, 2\) .* found 0..2"):
        ember.ones(2, 3).index_select(0, ember.tensor([0, 2]))
    with pytest.raises(TypeError, match="index_select: index must be a 1-d integer tensor"):
        ember.ones(2, 3).index_select(0, ember.tensor([0.0]))


@pytest.mark.parametrize("mask_shape", [(2, 3), (3,), (2, 1)])
def test_masked_select_broadcasts_and_matches_pytorch(mask_shape):
    x = random_array((2, 3), seed=4)
    mask = np.random.default_rng(5).random(mask_shape) > 0.4
    check_gradients(lambda t: ember.masked_select(t, ember.tensor(mask)), [x])
    check_parity(
        lambda t: t.masked_select(ember.tensor(mask)),
        lambda t: t.masked_select(torch.from_numpy(mask)),
        [x],
    )


@given(
    values=arrays(
        np.float32, array_shapes(min_dims=0, max_dims=3, max_side=4), elements=st.sampled_from([0, 1])
    )
)
def test_nonzero_matches_pytorch(values):
    expected = torch.from_numpy(values)
    result = ember.tensor(values).nonzero()
    assert result.dtype == ember.int64
    np.testing.assert_array_equal(result.array, expected.nonzero().numpy())
    tuples, expected_tuples = ember.tensor(values).nonzero(as_tuple=True), expected.nonzero(as_tuple=True)
    assert len(tuples) == len(expected_tuples)
    for a, b in zip(tuples, expected_tuples, strict=True):
        np.testing.assert_array_equal(a.array, b.numpy())
    np.testing.assert_array_equal(
        ember.argwhere(ember.tensor(values)).array, torch.argwhere(expected).numpy()
    )
