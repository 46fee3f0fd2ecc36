"""sort, argsort and topk: values (differentiable, through gather) and int64 indices, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import ember
from tests.helpers import check_gradients, check_parity


def distinct(shape, seed):
    """Values without ties, at least 1 apart (so the order is unique and a gradcheck step keeps it)."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return (rng.permutation(size) - size / 2).reshape(shape).astype(np.float32)


@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=5), data=st.data())
def test_sort_matches_pytorch_with_gradients(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    descending = data.draw(st.booleans())
    x = distinct(shape, data.draw(st.integers(0, 2**16)))
    check_parity(
        lambda t: ember.sort(t, dim, descending),
        lambda t: torch.sort(t, dim, descending),
        [x],
    )
    check_parity(lambda t: t.argsort(dim, descending), lambda t: t.argsort(dim, descending), [x])


@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=5), data=st.data())
def test_topk_matches_pytorch_with_gradients(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    k = data.draw(st.integers(0, shape[dim]))
    largest = data.draw(st.booleans())
    x = distinct(shape, data.draw(st.integers(0, 2**16)))
    check_parity(lambda t: t.topk(k, dim, largest), lambda t: t.topk(k, dim, largest), [x])


def test_sort_and_topk_values_pass_numerical_gradient_checks():
    x = distinct((3, 4, 5), seed=1)
    check_gradients(lambda t: ember.sort(t, 1, descending=True).values, [x])
    check_gradients(lambda t: ember.topk(t, 2, dim=-1).values, [x])
    check_gradients(lambda t: ember.topk(t, 3, dim=0, largest=False).values, [x])


@pytest.mark.parametrize("descending", [False, True])
def test_ties_keep_their_order_as_pytorchs_stable_sort(descending):
    values = np.array([[2, 1, 2, 1, 2, 3], [0, 0, 0, 0, 0, 0]], np.float32)
    expected = torch.sort(torch.from_numpy(values), dim=1, descending=descending, stable=True)
    for stable in (False, True):  # Ember's sort is always stable
        result = ember.sort(ember.tensor(values), 1, descending=descending, stable=stable)
        np.testing.assert_array_equal(result.values.array, expected.values.numpy())
        np.testing.assert_array_equal(result.indices.array, expected.indices.numpy())


def test_topk_with_ties_returns_the_right_values_at_distinct_indices():
    # PyTorch does not specify which of equal values topk returns first: check only what it promises
    x = ember.tensor([[1.0, 3.0, 3.0, 2.0, 3.0]])
    values, indices = x.topk(2, dim=1)
    assert values.tolist() == [[3.0, 3.0]]
    assert len(set(indices[0].tolist())) == 2
    np.testing.assert_array_equal(x.array[0, indices.array[0]], values.array[0])


def test_nan_sorts_as_the_largest_value_as_pytorch():
    values = np.array([1.0, np.nan, -1.0, 3.0], np.float32)
    for descending in (False, True):
        expected = torch.sort(torch.from_numpy(values), descending=descending)
        result = ember.tensor(values).sort(descending=descending)
        np.testing.assert_array_equal(result.values.array, expected.values.numpy())
        np.testing.assert_array_equal(result.indices.array, expected.indices.numpy())


def test_integer_tensors_sort_and_the_imagenet_accuracy_idiom():
    assert ember.tensor([3, 1, 2]).sort().values.tolist() == [1, 2, 3]
    assert ember.tensor([3, 1, 2]).sort().values.dtype == ember.int64
    labels = ember.tensor([3, 1, 3])  # right at top-1, wrong, right at top-2
    output = ember.tensor([[0.1, 0.5, 0.2, 0.9], [0.3, 0.1, 0.7, 0.2], [0.6, 0.2, 0.1, 0.3]])
    _, pred = output.topk(2, 1, True, True)  # pytorch/examples imagenet: accuracy(output, target, (1, 2))
    pred = pred.t()
    correct = pred.eq(labels.view(1, -1).expand_as(pred))
    top = [correct[:k].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / 3).item() for k in (1, 2)]
    assert top == pytest.approx([100.0 / 3, 200.0 / 3])
    assert pred.dtype == ember.int64


def test_zero_dimensional_tensors_and_errors():
    scalar = ember.tensor(5.0)
    assert scalar.topk(1).values.item() == 5.0 and scalar.topk(1).indices.shape == ()
    assert scalar.sort().indices.item() == 0
    with pytest.raises(RuntimeError, match=r"topk: selected index k=4 is out of range .* size 3"):
        ember.ones(3).topk(4)
    with pytest.raises(IndexError, match="sort: dimension 2 is out of range"):
        ember.ones(3, 2).sort(2)
