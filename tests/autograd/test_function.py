"""User-defined Functions and ember.gradcheck (public API)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import ember
from ember.autograd import Function, GradcheckError


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


class WrongCube(Cube):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x**2  # wrong local gradient


class ScaledAdd(Function):
    """Two tensor inputs and a non-tensor option: backward returns one gradient per positional input."""

    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.scale = scale
        return a + scale * b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad * ctx.scale, None


def test_user_function_forward_backward_and_gradcheck():
    x = ember.randn(5, requires_grad=True)
    y = Cube.apply(x)
    np.testing.assert_allclose(y.array, x.array**3, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.array, 3 * x.array**2, rtol=1e-6)
    assert ember.gradcheck(Cube.apply, [ember.randn(4, 3, requires_grad=True)])


def test_user_function_with_options_and_two_inputs():
    a, b = ember.randn(3, requires_grad=True), ember.randn(3, requires_grad=True)
    assert ember.gradcheck(lambda a, b: ScaledAdd.apply(a, b, 2.5), [a, b])


def test_gradcheck_reports_the_worst_element_its_index_and_both_values():
    x = ember.tensor([[1.0, 2.0], [3.0, -4.0]], requires_grad=True)
    with pytest.raises(GradcheckError) as error:
        ember.gradcheck(WrongCube.apply, [x])
    message = str(error.value)
    found = re.search(r"input 0 .* at index \((\d), (\d)\): analytic (\S+), numerical (\S+)", message)
    assert found, message
    analytic, numerical = float(found[3]), float(found[4])
    assert numerical / analytic == pytest.approx(1.5, rel=1e-6)  # 3x^2 against the wrong 2x^2


def test_gradcheck_uses_a_random_upstream_gradient():
    """An error that cancels in a plain sum (all-ones upstream) is still caught."""

    class SwappedGradients(Function):
        @staticmethod
        def forward(ctx, x):
            return x * np.array([1.0, 2.0])

        @staticmethod
        def backward(ctx, grad):
            return grad[::-1] * np.array([1.0, 2.0])  # wrong unless grad is symmetric

    x = ember.tensor([1.0, 1.0], requires_grad=True)
    with pytest.raises(GradcheckError):
        ember.gradcheck(SwappedGradients.apply, [x])


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="requires_grad"):
        ember.gradcheck(lambda x: x * 2, [ember.ones(2)])


def test_function_records_no_graph_under_no_grad_and_saves_nothing():
    x = ember.randn(3, requires_grad=True)
    with ember.no_grad():
        y = Cube.apply(x)
    assert y.grad_fn is None and not y.requires_grad


def test_needs_input_grad_tells_forward_what_to_save():
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b):
            seen.append(ctx.needs_input_grad)
            return a * b

        @staticmethod
        def backward(ctx, grad):
            return None, None

    Probe.apply(ember.ones(2, requires_grad=True), ember.ones(2))
    assert seen == [(True, False)]
