"""The backward pass: the lectures' worked examples, accumulation, graph release, hooks and grad modes."""

from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest
import torch

import ember


def test_lecture_simple_example_gradients():
    """f(x, y, z) = (x + y) z at x=-2, y=5, z=-4: f = -12, df/dx = df/dy = z = -4, df/dz = x + y = 3."""
    x, y, z = (ember.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    f = (x + y) * z
    f.backward()
    assert f.item() == -12.0
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


def test_lecture_sigmoid_neuron_gradients():
    """1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) at w0=2, x0=-1, w1=-3, x1=-2, w2=-3.

    The slide prints output 0.73 and gradients w0 -0.20, x0 0.39, w1 -0.39, x1 -0.59, w2 0.20 (two decimals).
    Exactly: s = w0 x0 + w1 x1 + w2 = 1, sigma(1) = 0.7311, local gradient (1 - sigma) sigma = 0.19661.
    """
    w0, x0, w1, x1, w2 = (
        ember.tensor(v, dtype=ember.float64, requires_grad=True) for v in (2.0, -1.0, -3.0, -2.0, -3.0)
    )
    out = 1 / (1 + ember.exp(-(w0 * x0 + w1 * x1 + w2)))
    out.backward()
    sigma = 1 / (1 + math.exp(-1.0))
    local = (1 - sigma) * sigma
    assert out.item() == pytest.approx(sigma, abs=1e-15)
    exact = {"w0": local * -1.0, "x0": local * 2.0, "w1": local * -2.0, "x1": local * -3.0, "w2": local}
    printed = {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
    computed = {"w0": w0, "x0": x0, "w1": w1, "x1": x1, "w2": w2}
    for name, tensor in computed.items():
        assert tensor.grad.item() == pytest.approx(exact[name], abs=1e-15), name
        assert round(tensor.grad.item(), 2) == printed[name], name
    # The same neuron through the sigmoid gate gives the same gradients (the graph is not unique).
    for t in computed.values():
        t.grad = None
    ember.sigmoid(w0 * x0 + w1 * x1 + w2).backward()
    for name, tensor in computed.items():
        assert tensor.grad.item() == pytest.approx(exact[name], abs=1e-15), name


def test_gradients_accumulate_until_zeroed():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [6.0, 6.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [2.0, 4.0])


def test_copy_gate_sums_gradients_of_a_reused_value():
    x = ember.tensor(3.0, requires_grad=True)
    y = x * x + x.exp() * x + x  # x used five times
    y.backward()
    expected = 2 * 3.0 + math.exp(3.0) * (3.0 + 1) + 1
    assert x.grad.item() == pytest.approx(expected, rel=1e-6)


def test_a_gradient_shared_by_two_leaves_is_not_aliased():
    """add passes one array to both inputs; changing one leaf's grad must not change the other's."""
    a, b = ember.ones(3, requires_grad=True), ember.ones(3, requires_grad=True)
    (a + b).backward(ember.tensor([1.0, 2.0, 3.0]))
    a.grad.array[...] *= 10
    np.testing.assert_array_equal(b.grad.array, [1.0, 2.0, 3.0])


def test_chain_of_100000_operations_needs_no_recursion():
    x = ember.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_second_backward_without_retain_graph_raises_like_pytorch():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp().sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.array, 2 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_saved_arrays_are_released_after_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    node = y.grad_fn
    y.sum().backward()
    assert node.released and node._saved == ()


def test_an_input_no_backward_reads_is_freed_when_the_forward_moves_on():
    """ReLU saves its output, not its input, so the sum it was given lives only as long as the caller
    holds it (as in PyTorch); the gradient still reaches the leaves through the edge."""
    x = ember.tensor([-1.0, 2.0], requires_grad=True)
    b = ember.tensor([0.5, 0.5], requires_grad=True)
    h = x + b
    freed = weakref.ref(h.array)
    y = ember.relu(h)
    del h
    gc.collect()
    assert freed() is None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [0.0, 1.0])
    np.testing.assert_array_equal(b.grad.array, [0.0, 1.0])


def test_a_saved_input_is_kept_until_backward_has_passed_its_node():
    x = ember.tensor([[1.0, 2.0]], requires_grad=True)
    w = ember.tensor([[3.0], [4.0]], requires_grad=True)
    h = x * 2  # matmul saves h to compute w's gradient
    kept = weakref.ref(h.array)
    loss = (h @ w).sum()
    del h
    gc.collect()
    assert kept() is not None
    loss.backward()
    gc.collect()
    assert kept() is None  # freed by backward, though the caller still holds the loss and its graph
    np.testing.assert_array_equal(w.grad.array, [[2.0], [4.0]])
    assert [node.name() for node, _ in loss.grad_fn.next_functions] == ["MatMulBackward0"]


def test_backward_on_non_scalar_needs_a_gradient():
    x = ember.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*shape \(2, 3\)"):
        (x * 2).backward()


def test_backward_gradient_of_wrong_shape_is_refused():
    x = ember.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient has shape \\(3,\\) but the output has shape \\(2, 3\\)"):
        (x * 2).backward(np.ones(3, dtype=np.float32))


def test_backward_on_a_tensor_without_grad_explains():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ember.ones(2).sum().backward()


def test_backward_with_an_explicit_gradient_matches_pytorch():
    data = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    upstream = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    x, t = ember.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    (x.tanh() * x).backward(upstream)
    (t.tanh() * t).backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(x.grad.array, t.grad.numpy(), rtol=1e-6)


def test_no_grad_records_nothing_and_enable_grad_restores():
    x = ember.ones(2, requires_grad=True)
    with ember.no_grad():
        y = x * 2
        assert not ember.is_grad_enabled()
        with ember.enable_grad():
            z = x * 2
    assert ember.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_as_decorator_and_set_grad_enabled():
    @ember.no_grad()
    def infer(t):
        return t * 2

    x = ember.ones(2, requires_grad=True)
    assert not infer(x).requires_grad
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_detach_cuts_the_graph_and_shares_storage():
    x = ember.ones(2, requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.is_leaf
    with ember.no_grad():
        y.array[0] = 5
    assert y.array[0] == 5


def test_hooks_see_and_may_replace_gradients():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.array.copy()))
    x.register_hook(lambda g: g * 2)
    y.sum().backward()
    np.testing.assert_array_equal(seen[0], [1.0, 1.0])
    np.testing.assert_array_equal(x.grad.array, [6.0, 6.0])


def test_retain_grad_keeps_the_gradient_of_a_non_leaf():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_array_equal(y.grad.array, [6.0, 12.0])
    assert (x * 3).grad is None


def test_requires_grad_only_on_leaves_and_floats():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad = False
    with pytest.raises(RuntimeError, match="floating-point"):
        ember.tensor([1, 2], requires_grad=True)


def test_gradient_flows_only_to_inputs_that_require_it():
    a = ember.ones(2, requires_grad=True)
    b = ember.ones(2)
    (a * b).sum().backward()
    assert a.grad is not None and b.grad is None


def test_gradients_keep_the_leaf_dtype():
    x = ember.ones(3, requires_grad=True)
    (x * ember.ones(3, dtype=ember.float64)).sum().backward()
    assert x.grad.dtype == np.float32


def test_the_callers_gradient_array_is_never_adopted_as_a_leaf_gradient():
    upstream = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    leaf = ember.ones(3, requires_grad=True)
    leaf.backward(upstream)
    leaf.grad.array[0] = 99.0
    np.testing.assert_array_equal(upstream, [1.0, 2.0, 3.0])


def test_an_array_a_function_keeps_is_copied_not_adopted():
    class KeepsItsGradient(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.kept = np.full_like(x, 2.0)
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return ctx.kept  # the same array each time (a wrong but possible user Function)

    x = ember.ones(2, requires_grad=True)
    y = KeepsItsGradient.apply(x).sum()
    y.backward(retain_graph=True)
    x.grad.array[:] = 0.0  # must not reach the array the Function keeps
    x.grad = None
    y.backward()
    np.testing.assert_array_equal(x.grad.array, [2.0, 2.0])


def test_a_fresh_gradient_is_kept_without_a_copy():
    from ember.ops.linalg import Linear

    produced = {}
    original = Linear.backward

    def spy(ctx, grad):
        grads = original(ctx, grad)
        produced["weight"] = id(grads[1])
        return grads

    try:
        Linear.backward = staticmethod(spy)
        w = ember.randn(3, 4, requires_grad=True)
        ember.linear(ember.randn(8, 4), w).sum().backward()
    finally:
        Linear.backward = original
    assert id(w.grad.array) == produced["weight"]
