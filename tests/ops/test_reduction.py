"""Reductions with dim (int or tuple) and keepdim, softmax family and norms: gradcheck and PyTorch parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import ember
from tests.helpers import check_gradients, check_parity, random_array


@st.composite
def shape_and_dims(draw, min_dims=1):
    shape = draw(array_shapes(min_dims=min_dims, max_dims=4, max_side=4))
    dims = draw(
        st.lists(
            st.integers(-len(shape), len(shape) - 1),
            min_size=1,
            max_size=len(shape),
            unique_by=lambda d: d % len(shape),
        )
    )
    return shape, tuple(dims) if len(dims) > 1 else dims[0]


REDUCTIONS = {
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda x, d, k: x.sum(d, keepdim=k)),
    "mean": (lambda x, d, k: x.mean(d, keepdim=k), lambda x, d, k: x.mean(d, keepdim=k)),
    "var": (lambda x, d, k: x.var(d, keepdim=k), lambda x, d, k: x.var(d, keepdim=k)),
    "var_biased": (
        lambda x, d, k: x.var(d, unbiased=False, keepdim=k),
        lambda x, d, k: x.var(d, unbiased=False, keepdim=k),
    ),
    "std": (lambda x, d, k: x.std(d, keepdim=k), lambda x, d, k: x.std(d, keepdim=k)),
    "amax": (lambda x, d, k: x.amax(d, keepdim=k), lambda x, d, k: x.amax(d, keepdim=k)),
    "amin": (lambda x, d, k: x.amin(d, keepdim=k), lambda x, d, k: x.amin(d, keepdim=k)),
    "logsumexp": (
        lambda x, d, k: x.logsumexp(d, keepdim=k),
        lambda x, d, k: x.logsumexp(tuple(range(x.ndim)) if d is None else d, keepdim=k),  # torch needs dim
    ),
    "norm": (lambda x, d, k: x.norm(dim=d, keepdim=k), lambda x, d, k: torch.linalg.vector_norm(x, 2, d, k)),
    "norm1": (lambda x, d, k: x.norm(1, d, k), lambda x, d, k: x.norm(1, d, k)),
    "norm3": (lambda x, d, k: x.norm(3, d, k), lambda x, d, k: x.norm(3, d, k)),
    "norm_inf": (lambda x, d, k: x.norm(float("inf"), d, k), lambda x, d, k: x.norm(float("inf"), d, k)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(case=shape_and_dims(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_reduction_parity(name, case, keepdim, seed):
    (shape, dim), (ember_fn, torch_fn) = case, REDUCTIONS[name]
    x = random_array(shape, seed=seed, low=0.1)
    count = np.prod([shape[d] for d in ([dim] if isinstance(dim, int) else dim)])
    if name.startswith(("var", "std")) and count < 2:
        return  # PyTorch gives nan for the unbiased variance of one value; Ember does too (tested below)
    atol = 1e-6
    if name in ("sum", "mean"):
        # A float32 sum's rounding error is bounded by its terms' magnitudes, not by the result, which can
        # cancel to near zero; each library sums in its own order (pairwise, blocked by SIMD width), within
        # log2(n) * u * sum|x| each (u = 2^-24). seed 0, 256 terms: -0.11522484 vs -0.11522055.
        magnitude = np.abs(x.astype(np.float64)).sum(axis=dim) / (count if name == "mean" else 1)
        atol = max(atol, 2 * np.log2(max(count, 2)) * 2.0**-24 * float(np.max(magnitude)))
    check_parity(
        lambda t: ember_fn(t, dim, keepdim), lambda t: torch_fn(t, dim, keepdim), [x], rtol=2e-5, atol=atol
    )


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(case=shape_and_dims(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_reduction_gradcheck(name, case, keepdim, seed):
    (shape, dim), (ember_fn, _) = case, REDUCTIONS[name]
    count = np.prod([shape[d] for d in ([dim] if isinstance(dim, int) else dim)])
    if (name.startswith(("var", "std")) and count < 2) or np.prod(shape) > 40:
        return
    x = random_array(shape, seed=seed, low=0.1).astype(np.float64)
    if name in ("amax", "amin", "norm_inf"):
        x = x + np.arange(x.size).reshape(shape) * 0.37  # distinct values: no ties at the extremum
    check_gradients(lambda t: ember_fn(t, dim, keepdim), [x])


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_over_all_elements(name):
    ember_fn, torch_fn = REDUCTIONS[name]
    x = random_array((3, 4), low=0.1)
    check_parity(lambda t: ember_fn(t, None, False), lambda t: torch_fn(t, None, False), [x])


def test_max_and_min_along_a_dim_return_values_and_indices():
    x = random_array((3, 5))
    for op in ("max", "min"):
        check_parity(lambda t, op=op: getattr(t, op)(1)[0], lambda t, op=op: getattr(t, op)(1)[0], [x])
        check_parity(
            lambda t, op=op: getattr(t, op)(0, keepdim=True).values,
            lambda t, op=op: getattr(t, op)(0, keepdim=True).values,
            [x],
        )
        ember_indices = getattr(ember.tensor(x), op)(1).indices
        np.testing.assert_array_equal(ember_indices.array, getattr(torch.tensor(x), op)(1).indices.numpy())


def test_max_ties_route_like_pytorch():
    """max(dim) sends the gradient to the returned index; max() and amax share it among ties."""
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], dtype=np.float32)
    check_parity(lambda t: t.max(1).values, lambda t: t.max(1).values, [x])
    check_parity(lambda t: t.max(), lambda t: t.max(), [x])
    check_parity(lambda t: t.amax(1), lambda t: t.amax(1), [x])


def test_argmax_argmin():
    x = random_array((4, 6))
    for op in ("argmax", "argmin"):
        for dim in (None, 0, 1, -1):
            result = getattr(ember.tensor(x), op)(dim)
            expected = getattr(torch.tensor(x), op)(dim)
            assert result.dtype == np.int64
            np.testing.assert_array_equal(result.array, expected.numpy())


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(dim):
    x = random_array((3, 4, 5))
    check_parity(lambda t: t.softmax(dim), lambda t: t.softmax(dim), [x])
    check_parity(lambda t: t.log_softmax(dim), lambda t: t.log_softmax(dim), [x])
    check_gradients(lambda t: t.softmax(dim), [x[:2, :3, :2]])
    check_gradients(lambda t: t.log_softmax(dim), [x[:2, :3, :2]])


def test_softmax_is_stable_for_large_scores():
    x = np.array([[1000.0, 1001.0, -1000.0], [-1e4, 0.0, 1e4]], dtype=np.float32)
    check_parity(lambda t: t.softmax(1), lambda t: t.softmax(1), [x])
    check_parity(lambda t: t.log_softmax(1), lambda t: t.log_softmax(1), [x])
    check_parity(lambda t: t.logsumexp(1), lambda t: t.logsumexp(1), [x])


def test_lecture_softmax_of_the_cat_scores():
    """Scores cat 3.2, car 5.1, frog -1.7 -> exp 24.5, 164.0, 0.18 -> probabilities 0.13, 0.87, 0.00."""
    scores = ember.tensor([3.2, 5.1, -1.7])
    assert [round(float(v), 2) for v in scores.exp().array] == [24.53, 164.02, 0.18]
    assert [round(float(p), 2) for p in scores.softmax(0).array] == [0.13, 0.87, 0.00]


def test_variance_of_a_single_value_is_nan_like_pytorch():
    x = ember.tensor([3.0])
    with pytest.warns(UserWarning, match="degrees of freedom"):
        assert np.isnan(x.var().item()) and np.isnan(torch.tensor([3.0]).var().item())
    assert x.var(unbiased=False).item() == 0.0


def test_norm_gradient_at_zero_is_zero_like_pytorch():
    check_parity(lambda t: t.norm(), lambda t: t.norm(), [np.zeros(3, dtype=np.float32)])


def test_integer_sum_and_mean_of_integers():
    assert ember.tensor([1, 2, 3]).sum().dtype == np.int64
    assert ember.tensor([True, True, False]).sum().item() == 2
    with pytest.raises(TypeError, match="floating-point"):
        ember.tensor([1, 2]).mean()


def test_out_of_range_dim_names_the_operation():
    with pytest.raises(IndexError, match="sum: dimension 2 is out of range for a tensor with 2 dimensions"):
        ember.ones(2, 3).sum(2)


def with_zeros(shape, seed, zeros):
    """Random values with ``zeros`` zeros in each row of the last dimension (prod's special cases)."""
    x = random_array(shape, seed=seed, low=0.5)
    rng = np.random.default_rng(seed)
    for row in np.ndindex(*shape[:-1]):
        x[row][rng.choice(shape[-1], zeros, replace=False)] = 0
    return x


@pytest.mark.parametrize("zeros", [0, 1, 2])
@pytest.mark.parametrize("keepdim", [False, True])
def test_prod_along_a_dimension_with_zeros_matches_pytorch(zeros, keepdim):
    x = with_zeros((3, 2, 4), seed=zeros, zeros=zeros)
    check_gradients(lambda t: t.prod(-1, keepdim), [x])
    check_parity(lambda t: t.prod(-1, keepdim), lambda t: t.prod(-1, keepdim), [x])
    check_parity(lambda t: ember.prod(t, 0), lambda t: torch.prod(t, 0), [x])  # zeros across rows too


@pytest.mark.parametrize("zeros", [0, 1, 2])
def test_prod_of_all_elements_with_zeros_matches_pytorch(zeros):
    x = with_zeros((6,), seed=zeros, zeros=zeros).reshape(2, 3)
    check_gradients(lambda t: t.prod(), [x])
    check_parity(lambda t: t.prod(), lambda t: t.prod(), [x])


@given(case=shape_and_dims(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_prod_parity_on_shapes(case, keepdim, seed):
    shape, dim = case
    dim = dim if isinstance(dim, int) else dim[0]  # prod takes one dimension, as PyTorch
    x = random_array(shape, seed=seed, low=0.5)
    check_parity(lambda t: t.prod(dim, keepdim), lambda t: t.prod(dim, keepdim), [x], rtol=1e-5)


def test_prod_types_and_errors():
    assert ember.tensor([2, 3], dtype=ember.int32).prod().dtype == ember.int64  # as sum, and PyTorch
    assert ember.tensor([True, True]).prod().item() == 1
    assert ember.tensor([1.5, 2.0]).prod(dtype=ember.float64).dtype == ember.float64
    with pytest.raises(TypeError, match="prod: dim must be one int"):
        ember.ones(2, 2).prod((0, 1))


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 2), -1])
def test_count_nonzero_matches_pytorch(dim):
    values = np.array([[[0, 1.5], [2, 0]], [[0, 0], [3, -1]]], np.float32)
    expected = torch.count_nonzero(torch.from_numpy(values), dim)
    result = ember.count_nonzero(ember.tensor(values), dim)
    assert result.dtype == ember.int64
    np.testing.assert_array_equal(result.array, expected.numpy())
    np.testing.assert_array_equal(ember.tensor(values).count_nonzero(dim).array, expected.numpy())


def test_max_and_min_of_two_tensors_are_elementwise_as_pytorch():
    a, b = random_array((2, 3), seed=1), random_array((3,), seed=2)
    check_parity(lambda x, y: ember.max(x, y), lambda x, y: torch.max(x, y), [a, b])
    check_parity(lambda x, y: x.min(y), lambda x, y: x.min(y), [a, b])
