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


def distinct_rows(shape, size, seed):
    """An index of ``shape`` whose entries along dimension 0 never repeat within a column (values < size)."""
    rng = np.random.default_rng(seed)
    columns = [rng.permutation(size)[: shape[0]] for _ in range(int(np.prod(shape[1:])))]
    return np.stack(columns, axis=-1).reshape(shape).astype(np.int64)


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_matches_pytorch(dim):
    x = random_array((4, 5), seed=1)
    index = distinct_rows((3, 4), 4, seed=3) if dim == 0 else distinct_rows((4, 3), 5, seed=3).T.copy()
    src = random_array(index.shape, seed=2)  # PyTorch's backward needs src of index's shape
    larger = random_array((5, 6), seed=2)  # Ember's also takes a larger src, as PyTorch's forward does
    ember_index, torch_index = ember.tensor(index), torch.from_numpy(index)
    check_gradients(lambda a, b: ember.scatter(a, dim, ember_index, b), [x, larger])
    expected = torch.from_numpy(x).scatter(dim, torch_index, torch.from_numpy(larger))
    np.testing.assert_array_equal(
        ember.tensor(x).scatter(dim, ember_index, ember.tensor(larger)).array, expected
    )
    check_parity(
        lambda a, b: a.scatter(dim, ember_index, b), lambda a, b: a.scatter(dim, torch_index, b), [x, src]
    )
    check_parity(
        lambda a: ember.scatter(a, dim, ember_index, value=2.5),
        lambda a: torch.scatter(a, dim, torch_index, value=2.5),
        [x],
    )


def test_scatter_add_with_repeated_indices_matches_pytorch():
    x, src = random_array((3, 4), seed=4), random_array((5, 4), seed=5)
    index = np.array([[0, 1, 2, 0], [0, 0, 2, 1], [2, 2, 2, 2], [1, 0, 1, 0], [0, 0, 0, 0]], np.int64)
    check_gradients(lambda a, b: ember.scatter_add(a, 0, ember.tensor(index), b), [x, src])
    check_parity(
        lambda a, b: a.scatter_add(0, ember.tensor(index), b),
        lambda a, b: a.scatter_add(0, torch.from_numpy(index), b),
        [x, src],
    )


def test_scatter_in_place_makes_one_hot_targets_and_refuses_bad_arguments():
    target = ember.tensor([2, 0, 1])
    one_hot = ember.zeros(3, 4).scatter_(1, target.unsqueeze(1), 1)
    assert one_hot.tolist() == torch.zeros(3, 4).scatter_(1, torch.tensor([[2], [0], [1]]), 1).tolist()
    assert ember.zeros(2, 2).scatter_add_(0, ember.tensor([[1, 1]]), ember.ones(1, 2)).tolist() == [
        [0, 0],
        [1, 1],
    ]
    with pytest.raises(IndexError, match=r"scatter: index values must lie in \[0, 4\)"):
        ember.zeros(3, 4).scatter(1, ember.tensor([[4]]), value=1.0)
    with pytest.raises(TypeError, match=r"give src .* or value"):
        ember.zeros(3, 4).scatter(1, ember.tensor([[1]]))
    with pytest.raises(ValueError, match="the same number of dimensions"):
        ember.zeros(3, 4).scatter(1, ember.tensor([1]), value=1.0)
