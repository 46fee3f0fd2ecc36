"""Gradients of gradients: ``backward(create_graph=True)``, ``ember.autograd.grad``, ``gradgradcheck``,
and the clear refusal of an op whose backward cannot be differentiated (public API)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import ember
from ember.autograd import DoubleBackwardError, Function, GradcheckError, grad


def leaf(*shape, seed=0):
    values = np.random.default_rng(seed).standard_normal(shape)
    return ember.tensor(values, dtype=ember.float64, requires_grad=True)


class Cube(Function):
    """A user's Function whose backward is written with operators only: it may declare it differentiable."""

    differentiable_backward = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


class ArrayCube(Cube):
    """The same, but its backward runs on arrays only (the default): first order only."""

    differentiable_backward = False


class SavedSquareCube(Cube):
    """Wrongly declared differentiable: it saves an intermediate (x^2), which a recorded backward takes
    as a constant, so its second derivative is wrong; gradgradcheck must catch it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x * x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (square,) = ctx.saved_tensors
        return grad * 3 * square


class ReturnsArray(Cube):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return np.asarray(grad) * 3 * np.asarray(x) ** 2  # loses the graph


def test_backward_with_create_graph_gives_grad_that_can_be_differentiated_to_third_order():
    x = ember.tensor([1.0, 2.0, -3.0], dtype=ember.float64, requires_grad=True)
    (x**4).sum().backward(create_graph=True)
    first = x.grad
    assert first.grad_fn is not None
    np.testing.assert_allclose(first.array, 4 * x.array**3)
    (second,) = grad(first.sum(), x, create_graph=True)
    np.testing.assert_allclose(second.array, 12 * x.array**2)
    (third,) = grad(second.sum(), x)
    np.testing.assert_allclose(third.array, 24 * x.array)
    assert third.grad_fn is None


def test_without_create_graph_gradients_have_no_graph():
    x = leaf(3)
    (x.exp() * x).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad
    (g,) = grad((x.exp() * x).sum(), x)
    assert g.grad_fn is None and not g.requires_grad


def test_grad_leaves_dot_grad_alone_and_weights_by_grad_outputs():
    x, w = leaf(4, 3), leaf(3, 2, seed=1)
    y = x @ w
    v = np.random.default_rng(2).standard_normal((4, 2))
    gx, gw = grad(y, (x, w), grad_outputs=ember.tensor(v, dtype=ember.float64))
    assert x.grad is None and w.grad is None
    np.testing.assert_allclose(gx.array, v @ w.array.T)
    np.testing.assert_allclose(gw.array, x.array.T @ v)


def test_grad_with_respect_to_an_intermediate_tensor():
    x = leaf(3)
    h = x * 2
    y = (h**2).sum()
    (gh,) = grad(y, h)
    np.testing.assert_allclose(gh.array, 2 * h.array)


def test_grad_of_several_outputs_sums_them():
    x = leaf(3)
    (g,) = grad([(x**2).sum(), x.sum()], x)
    np.testing.assert_allclose(g.array, 2 * x.array + 1)


def test_grad_refuses_an_unused_input_unless_allowed():
    x, unused = leaf(3), leaf(2, seed=1)
    with pytest.raises(RuntimeError, match=r"input 1 was not used.*allow_unused=True"):
        grad((x**2).sum(), (x, unused))
    gx, gu = grad((x**2).sum(), (x, unused), allow_unused=True)
    assert gu is None and gx is not None


def test_grad_refuses_inputs_and_outputs_that_do_not_require_grad():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        grad(x.sum(), ember.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad and has no grad_fn"):
        grad(ember.ones(3).sum(), x)


def test_grad_frees_the_graph_unless_retained_and_create_graph_retains_it():
    x = leaf(3)
    y = (x.exp()).sum()
    grad(y, x)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        grad(y, x)
    z = (x.exp()).sum()
    grad(z, x, create_graph=True)
    grad(z, x)  # create_graph retains the graph by default, as PyTorch


def test_create_graph_accumulates_out_of_place_into_grad():
    x = leaf(3)
    (x**2).sum().backward(create_graph=True)
    (x**3).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.array, 2 * x.array + 3 * x.array**2)
    (h,) = grad(x.grad.sum(), x)
    np.testing.assert_allclose(h.array, 2 + 6 * x.array)


def test_user_function_declared_differentiable_differentiates_twice():
    x = leaf(5)
    (g,) = grad(Cube.apply(x).sum(), x, create_graph=True)
    (h,) = grad(g.sum(), x)
    np.testing.assert_allclose(h.array, 6 * x.array)
    assert ember.gradgradcheck(Cube.apply, [leaf(4, 3)])


def test_an_op_that_cannot_double_backward_gives_first_gradients_then_an_error_naming_it():
    x = leaf(5)
    (g,) = grad(ArrayCube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.array, 3 * x.array**2)  # the first gradient is right
    with pytest.raises(DoubleBackwardError, match="ArrayCube: its backward is computed on arrays"):
        grad(g.sum(), x)
    assert issubclass(DoubleBackwardError, ember.errors.EmberError)
    assert issubclass(DoubleBackwardError, RuntimeError)


class Double(Function):
    """Saves nothing, so the node keeps only an edge to a non-leaf input; backward on arrays only."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        return 2 * grad


def test_the_refusal_reaches_an_input_the_node_kept_only_as_an_edge():
    x = leaf(5)
    (g,) = grad(Double.apply(x * 1.0).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.array, np.full(5, 2.0))
    with pytest.raises(DoubleBackwardError, match="Double: its backward is computed on arrays"):
        grad(g.sum(), x)


def test_a_router_links_its_gradient_to_an_input_kept_only_as_an_edge():
    """leaky_relu saves its mask, not its input; the recorded gradient still depends on the input (with
    derivative zero, as PyTorch's), so grad gives zeros for it, not an "unused input" error."""
    x = leaf(5)
    h = x * 1.0
    (g,) = grad(ember.nn.functional.leaky_relu(h, 0.1).sum(), h, create_graph=True)
    (second,) = grad(g.sum(), h)
    np.testing.assert_array_equal(second.array, np.zeros(5))  # torch: zeros


def test_an_op_without_double_backward_off_the_second_path_is_fine():
    x, w = leaf(3), leaf(3, seed=1)
    loss = ArrayCube.apply(w).sum() + (x**3).sum()  # ArrayCube's gradient never gets differentiated
    gx, _ = grad(loss, (x, w), create_graph=True)
    (h,) = grad(gx.sum(), x)
    np.testing.assert_allclose(h.array, 6 * x.array)


def test_gelu_exact_refuses_double_backward_by_name():
    x = leaf(4)
    (g,) = grad(ember.nn.functional.gelu(x).sum(), x, create_graph=True)
    with pytest.raises(DoubleBackwardError, match="GELU"):
        g.sum().backward()


def test_a_differentiable_backward_that_returns_an_array_is_refused():
    x = leaf(3)
    with pytest.raises(TypeError, match=r"ReturnsArray\.backward returned a ndarray"):
        grad(ReturnsArray.apply(x).sum(), x, create_graph=True)


def test_gradgradcheck_catches_a_wrong_second_derivative_and_names_the_worst_element():
    x = leaf(3)
    (g,) = grad(SavedSquareCube.apply(x).sum(), x)
    np.testing.assert_allclose(g.array, 3 * x.array**2)  # first order is right: gradcheck passes
    assert ember.gradcheck(SavedSquareCube.apply, [leaf(3)])
    message = "gradgradcheck: input 0 (shape (3,)): analytic and numerical gradients differ; worst element"
    with pytest.raises(GradcheckError, match=re.escape(message)):
        ember.gradgradcheck(SavedSquareCube.apply, [leaf(3)])


def test_gradgradcheck_with_given_grad_outputs_and_several_inputs():
    a, b = leaf(2, 3), leaf(2, 3, seed=1)
    v = leaf(2, 3, seed=2)
    assert ember.gradgradcheck(lambda a, b: (a * b).exp(), [a, b], [v])


def test_hooks_see_tensors_in_a_recorded_backward():
    x = leaf(3)
    seen = []
    x.register_hook(lambda g: seen.append(g.grad_fn is not None))
    (x**3).sum().backward(create_graph=True)
    assert seen == [True]
