"""Elementwise operations: gradcheck and PyTorch parity, on hypothesis-drawn shapes and broadcasting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import ember
from ember.ops import elementwise
from tests.helpers import check_gradients, check_parity, random_array

# name: (ember function, torch function, smallest magnitude of inputs, sign: +1 positive only, 0 any)
UNARY = {
    "exp": (ember.exp, torch.exp, None, 0),
    "log": (ember.log, torch.log, 0.1, 1),
    "sqrt": (ember.sqrt, torch.sqrt, 0.1, 1),
    "abs": (ember.abs, torch.abs, 0.05, 0),
    "sign": (ember.sign, torch.sign, 0.05, 0),
    "neg": (ember.neg, torch.neg, None, 0),
    "sigmoid": (ember.sigmoid, torch.sigmoid, None, 0),
    "tanh": (ember.tanh, torch.tanh, None, 0),
    "relu": (ember.relu, torch.relu, 0.05, 0),
    "clamp": (lambda x: ember.clamp(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7), None, 0),
    "clamp_min": (lambda x: x.clamp(min=0.2), lambda x: x.clamp(min=0.2), None, 0),
    "pow_scalar": (lambda x: x**3, lambda x: x**3, None, 0),
    "pow_fraction": (lambda x: x**1.5, lambda x: x**1.5, 0.1, 1),
    "rpow": (lambda x: 2.0**x, lambda x: 2.0**x, None, 0),
    "rsub": (lambda x: 1 - x, lambda x: 1 - x, None, 0),
    "rdiv": (lambda x: 1 / x, lambda x: 1 / x, 0.2, 0),
}


def _inputs(shape, seed, low, sign):
    values = random_array(shape, seed=seed, low=low)
    return np.abs(values) if sign > 0 else values


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=array_shapes(min_dims=0, max_dims=3, max_side=4), seed=st.integers(0, 2**16))
def test_unary_parity(name, shape, seed):
    ember_fn, torch_fn, low, sign = UNARY[name]
    check_parity(ember_fn, torch_fn, [_inputs(shape, seed, low, sign)])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradcheck(name):
    ember_fn, _, low, sign = UNARY[name]
    values = _inputs((3, 4), 0, low, sign)
    if name.startswith("clamp"):  # keep away from the kinks at the bounds
        values = values[
            (np.abs(values + 0.5) > 0.05) & (np.abs(values - 0.7) > 0.05) & (np.abs(values - 0.2) > 0.05)
        ]
    check_gradients(ember_fn, [values])


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a**b, lambda a, b: a**b),
    "maximum": (ember.maximum, torch.maximum),
    "minimum": (ember.minimum, torch.minimum),
    "where": (lambda a, b: ember.where(a > 0.5, a, b), lambda a, b: torch.where(a > 0.5, a, b)),
}


def _binary_inputs(name, shapes, seed):
    a = random_array(shapes[0], seed=seed)
    b = random_array(shapes[1], seed=seed + 1, low=0.2)
    if name == "pow":
        a = np.abs(a) + 0.5
    return a, b


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4), seed=st.integers(0, 2**16))
def test_binary_parity_with_broadcasting(name, shapes, seed):
    ember_fn, torch_fn = BINARY[name]
    check_parity(ember_fn, torch_fn, list(_binary_inputs(name, shapes.input_shapes, seed)))


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), seed=st.integers(0, 2**16))
def test_binary_gradcheck_with_broadcasting(name, shapes, seed):
    ember_fn, _ = BINARY[name]
    a, b = _binary_inputs(name, shapes.input_shapes, seed)
    if name == "where":
        a = np.where(np.abs(a - 0.5) < 0.05, a + 0.2, a)  # keep away from the switch
    check_gradients(ember_fn, [a, b])


def test_maximum_and_minimum_share_the_gradient_on_ties_like_pytorch():
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    b = np.array([1.0, 5.0, 3.0], dtype=np.float32)
    check_parity(ember.maximum, torch.maximum, [a, b])
    check_parity(ember.minimum, torch.minimum, [a, b])


def test_relu_and_abs_gradients_at_zero_match_pytorch():
    x = np.array([-1.0, 0.0, 2.0], dtype=np.float32)
    check_parity(ember.relu, torch.relu, [x])
    check_parity(ember.abs, torch.abs, [x])
    check_parity(lambda t: t.clamp(0.0, 2.0), lambda t: t.clamp(0.0, 2.0), [x])


@pytest.mark.parametrize(
    "ember_fn, torch_fn",
    [(ember.relu, torch.relu), (lambda t: t.clamp(-1.0, 1.0), lambda t: t.clamp(-1.0, 1.0))],
    ids=["relu", "clamp"],
)
@pytest.mark.parametrize("copies", [1, 1000], ids=["small", "large"])  # both paths of pass_where
def test_routers_block_an_infinite_or_nan_gradient_where_closed_like_pytorch(ember_fn, torch_fn, copies):
    x = np.tile(np.array([-2.0, -3.0, -4.0, 0.5, 0.25, 3.0], dtype=np.float32), copies)
    upstream = np.tile(np.array([np.inf, -np.inf, np.nan, np.inf, 2.0, -1.0], dtype=np.float32), copies)
    assert (x.size > elementwise.SMALL) == (copies > 1)
    ember_x, torch_x = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ember_fn(ember_x).backward(ember.tensor(upstream))
    torch_fn(torch_x).backward(torch.from_numpy(upstream))
    np.testing.assert_array_equal(ember_x.grad.array, torch_x.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_and_numpy_relu_give_identical_numbers(monkeypatch, dtype):
    x = random_array((3, 5, 40, 7), seed=1).astype(dtype)  # 4200 values: above SMALL
    x[0, 0, 0, :4] = [np.nan, -0.0, np.inf, -np.inf]
    upstream = random_array(x.shape, seed=2).astype(dtype)
    upstream[0, 0, 1, :3] = [np.nan, np.inf, -np.inf]  # where x < 0 too: blocked
    x[0, 0, 1, :3] = -1
    if elementwise.relu_kernels(x) is None:
        pytest.skip("numba is not installed (or EMBER_NUMBA=0)")

    def relu_step():
        inputs = ember.tensor(x, requires_grad=True)
        out = ember.relu(inputs)
        out.backward(ember.tensor(upstream))
        return out.array, inputs.grad.array

    compiled = relu_step()
    monkeypatch.setenv("EMBER_NUMBA", "0")
    assert elementwise.relu_kernels(x) is None
    for a, b in zip(compiled, relu_step(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.isnan(compiled[1][0, 0, 1, :3]).any()


def test_relu_backward_takes_numpy_for_a_broadcast_gradient():
    x = random_array((100, 50), seed=3)
    check_parity(lambda t: ember.relu(t).sum(), lambda t: torch.relu(t).sum(), [x])
    check_gradients(ember.relu, [random_array((70, 60), seed=4, low=0.1)])


def test_pow_gradient_edge_cases_match_pytorch():
    base = np.array([0.0, 2.0, 0.0, 3.0], dtype=np.float32)
    exponent = np.array([2.0, 0.0, 0.0, 1.5], dtype=np.float32)
    check_parity(lambda a, b: a**b, lambda a, b: a**b, [base, exponent])


def test_sigmoid_is_exact_at_extremes():
    x = ember.tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    y = x.sigmoid()
    np.testing.assert_array_equal(y.array, [0.0, 0.5, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [0.0, 0.25, 0.0])


def test_broadcasting_error_names_the_operation_and_both_shapes():
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(2,\) cannot be broadcast"):
        ember.ones(2, 3) * ember.ones(2)
    with pytest.raises(ValueError, match=r"maximum: shapes \(4,\) and \(3,\)"):
        ember.maximum(ember.ones(4), ember.ones(3))


def test_masked_fill():
    x = random_array((3, 4))
    mask = x > 0
    check_parity(
        lambda t: t.masked_fill(ember.tensor(mask), -1.0),
        lambda t: t.masked_fill(torch.tensor(mask), -1.0),
        [x],
    )


def test_where_of_a_condition_alone_is_nonzero_as_tuple():
    condition = np.array([[True, False, True], [False, False, True]])
    expected = torch.where(torch.from_numpy(condition))
    result = ember.where(ember.tensor(condition))
    assert len(result) == 2 and all(r.dtype == ember.int64 for r in result)
    for r, e in zip(result, expected, strict=True):
        np.testing.assert_array_equal(r.array, e.numpy())
    with pytest.raises(TypeError, match="give both values"):
        ember.where(ember.tensor(condition), 1.0)
