"""Indexing (basic, integer arrays, boolean masks, mixed), gather, and their scatter-add backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

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
