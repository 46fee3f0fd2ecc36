"""The comparison and arithmetic families, complete as PyTorch has them: methods, long names, in-place
forms and ``out=``, compared with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.helpers import check_parity, random_array

A = np.array([[1.0, -2.0, 3.0], [0.5, 2.0, -4.0]], np.float32)
B = np.array([[1.0, 2.0, -3.0], [0.5, -2.0, 4.0]], np.float32)

COMPARISONS = ["eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater"]
COMPARISONS += ["greater_equal", "logical_and", "logical_or", "logical_xor", "isclose"]


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons_as_functions_and_methods_match_pytorch(name):
    expected = getattr(torch, name)(torch.from_numpy(A), torch.from_numpy(B)).numpy()
    a, b = ember.tensor(A), ember.tensor(B)
    np.testing.assert_array_equal(getattr(ember, name)(a, b).array, expected)
    np.testing.assert_array_equal(getattr(a, name)(b).array, expected)


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_in_place_write_ones_and_zeros_in_the_tensors_type(name):
    expected = getattr(torch.from_numpy(A.copy()), name + "_")(torch.from_numpy(B))
    a = ember.tensor(A)
    assert getattr(a, name + "_")(ember.tensor(B)) is a
    assert a.dtype == ember.float32
    np.testing.assert_array_equal(a.array, expected.numpy())


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite", "logical_not"])
def test_predicates_match_pytorch(name):
    values = np.array([1.0, np.nan, np.inf, -np.inf, 0.0], np.float32)
    expected = getattr(torch, name)(torch.from_numpy(values)).numpy()
    np.testing.assert_array_equal(getattr(ember.tensor(values), name)().array, expected)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "matmul", "maximum", "minimum", "remainder"])
def test_binary_operations_write_into_out(name):
    a, b = (A, B.T) if name == "matmul" else (A, B)
    expected = getattr(torch, name)(torch.from_numpy(a), torch.from_numpy(b))
    out = ember.empty(*expected.shape)
    assert getattr(ember, name)(ember.tensor(a), ember.tensor(b), out=out) is out
    np.testing.assert_allclose(out.array, expected.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["exp", "sqrt", "abs", "neg", "sigmoid", "tanh", "log1p", "square"])
def test_unary_operations_write_into_out(name):
    values = np.abs(A)
    out = ember.zeros(2, 3)
    version = out._version
    assert getattr(ember, name)(ember.tensor(values), out=out) is out
    np.testing.assert_allclose(out.array, getattr(torch, name)(torch.from_numpy(values)).numpy(), rtol=1e-6)
    assert out._version > version  # an in-place change of out


def test_comparison_writes_into_a_boolean_out():
    out = ember.empty(2, 3, dtype=ember.bool)
    assert ember.eq(ember.tensor(A), ember.tensor(B), out=out) is out
    np.testing.assert_array_equal(out.array, A == B)


def test_out_of_another_shape_is_resized_with_pytorchs_warning():
    out = ember.zeros(5)
    with pytest.warns(UserWarning, match="was resized"):
        ember.add(ember.ones(2, 2), 1, out=out)
    assert out.shape == (2, 2) and out.array.tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_out_refuses_what_pytorch_refuses():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        ember.mul(x, 2, out=ember.empty(2))
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type int64"):
        ember.div(ember.ones(2), 3, out=ember.empty(2, dtype=ember.int64))


@pytest.mark.parametrize(
    ("ember_fn", "torch_fn", "low"),
    [
        (lambda x: x.reciprocal(), lambda x: x.reciprocal(), 0.5),
        (lambda x: x.rsqrt(), lambda x: x.rsqrt(), 0.5),
        (lambda x: x.log2(), lambda x: x.log2(), 0.5),
        (lambda x: x.log10(), lambda x: x.log10(), 0.5),
        (lambda x: x.log1p(), lambda x: x.log1p(), 0.0),
        (lambda x: x.expm1(), lambda x: x.expm1(), None),
        (lambda x: x.square(), lambda x: x.square(), None),
        (lambda x: x.sin(), lambda x: x.sin(), None),
        (lambda x: ember.cos(x), lambda x: torch.cos(x), None),
        (lambda x: x.clamp_min(0.1), lambda x: x.clamp_min(0.1), None),
        (lambda x: x % 0.7, lambda x: x % 0.7, None),
        (lambda x: ember.fmod(x, 0.7), lambda x: torch.fmod(x, 0.7), None),
    ],
)
def test_new_pointwise_operations_match_pytorch_with_gradients(ember_fn, torch_fn, low):
    values = random_array((3, 4), seed=1, low=low)
    values = values if low is None else np.abs(values)  # inside the domain
    check_parity(ember_fn, torch_fn, [values], rtol=1e-5, atol=1e-5)


def test_rsqrt_of_a_negative_number_is_nan_silently_as_in_pytorch():
    assert np.isnan(ember.tensor([-1.0]).rsqrt().item())


def test_remainder_gradient_for_the_divisor():
    a, b = random_array((5,), seed=2), random_array((5,), seed=3, low=0.5)
    check_parity(ember.remainder, torch.remainder, [a, b], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
def test_div_rounding_modes(mode):
    a, b = np.array([7.0, -7.0, 7.5], np.float32), np.array([2.0, 2.0, -2.0], np.float32)
    expected = torch.div(torch.from_numpy(a), torch.from_numpy(b), rounding_mode=mode).numpy()
    np.testing.assert_array_equal(
        ember.div(ember.tensor(a), ember.tensor(b), rounding_mode=mode).array, expected
    )
    assert (ember.tensor([7, -7]) // 2).tolist() == (torch.tensor([7, -7]) // 2).tolist()


def test_in_place_arithmetic_differentiates_through_an_intermediate():
    for lib in (torch, ember):
        x = lib.tensor([0.5, 1.0], requires_grad=True)
        y = x * 1.0
        y.mul_(2).sub_(x, alpha=3).tanh_()
        y.sum().backward()
        if lib is torch:
            expected = x.grad.numpy()
        else:
            np.testing.assert_allclose(x.grad.array, expected, rtol=1e-6)


@pytest.mark.parametrize(("name", "shapes"), [("mm", [(2, 3), (3, 4)]), ("bmm", [(2, 2, 3), (2, 3, 1)])])
def test_products_with_fixed_dimensions(name, shapes):
    inputs = [random_array(shape, seed=i) for i, shape in enumerate(shapes)]
    check_parity(getattr(ember, name), getattr(torch, name), inputs, rtol=1e-5, atol=1e-6)


def test_mm_refuses_a_batch_saying_which_argument():
    with pytest.raises(RuntimeError, match="mm: the first argument must be a 2-D tensor, got 3-D"):
        ember.mm(ember.ones(2, 2, 2), ember.ones(2, 2))


def test_clamp_with_tensor_bounds_matches_pytorch():
    low, high = random_array((3, 4), seed=4) - 0.5, random_array((3, 4), seed=5) + 0.5
    check_parity(
        lambda x, lo, hi: ember.clamp(x, lo, hi),
        lambda x, lo, hi: torch.clamp(x, lo, hi),
        [random_array((3, 4), seed=6), low, high],
    )
