"""Who owns a gradient array: the walk lets a leaf keep an array without a copy only if nothing else sees it.

A leaf adds later gradients into its ``.grad`` in place, so keeping an array that something else also
holds would change that other array. The rule (``ember.autograd.graph``) is decided from what the engine
knows, never from CPython's reference counts: every test here runs with ``sys.getrefcount`` answering 1,
as if nothing else held any array, and must still pass.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import ember


@pytest.fixture(autouse=True)
def no_reference_counts(monkeypatch):
    monkeypatch.setattr(sys, "getrefcount", lambda obj: 1)


def twice(x):
    return (x * 2).sum()


@pytest.mark.parametrize("as_tensor", [False, True])
def test_the_callers_gradient_passed_to_two_leaves_is_copied_for_each(as_tensor):
    a, b = ember.ones(3, requires_grad=True), ember.ones(3, requires_grad=True)
    upstream = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    (a + b).backward(ember.from_numpy(upstream) if as_tensor else upstream)  # add passes it to both
    a.grad.array[0] = 99.0
    np.testing.assert_array_equal(b.grad.array, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(upstream, [1.0, 2.0, 3.0])


def test_one_new_array_returned_for_two_inputs_is_copied():
    class Both(ember.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad):
            g = grad * 1.0  # new, but given to both inputs
            return g, g

    a, b = ember.ones(2, requires_grad=True), ember.ones(2, requires_grad=True)
    y = Both.apply(a, b).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(a.grad.array, [2.0, 2.0])
    np.testing.assert_array_equal(b.grad.array, [2.0, 2.0])


def test_a_view_of_an_array_the_function_keeps_is_copied():
    class ViewOfKept(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.buffer = np.full((2, x.size), 3.0, dtype=x.dtype)
            return x * 3

        @staticmethod
        def backward(ctx, grad):
            return ctx.buffer[0].reshape(grad.shape)

    x = ember.ones(2, requires_grad=True)
    y = ViewOfKept.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    x.grad = None
    y.backward()
    np.testing.assert_array_equal(x.grad.array, [3.0, 3.0])


def test_a_gradient_a_hook_saw_is_not_changed_by_the_next_backward():
    x = ember.ones(2, requires_grad=True)
    seen = []
    x.register_hook(seen.append)
    twice(x).backward()
    twice(x).backward()
    np.testing.assert_array_equal(seen[0].array, [2.0, 2.0])
    np.testing.assert_array_equal(x.grad.array, [4.0, 4.0])


def test_a_tensor_a_hook_returns_is_not_changed_by_the_next_backward():
    x = ember.ones(2, requires_grad=True)
    replacement = ember.tensor([5.0, 5.0])
    remove = x.register_hook(lambda grad: replacement)
    twice(x).backward()
    remove()
    twice(x).backward()
    np.testing.assert_array_equal(replacement.array, [5.0, 5.0])
    np.testing.assert_array_equal(x.grad.array, [7.0, 7.0])


def test_a_retained_non_leaf_gradient_is_its_own_array():
    x = ember.ones(2, requires_grad=True)
    y = x * 1.0
    y.retain_grad()
    y.sum().backward()
    y.grad.array[:] = 99.0
    np.testing.assert_array_equal(x.grad.array, [1.0, 1.0])


def test_a_gradient_kept_by_one_leaf_is_not_another_leafs():
    w = ember.ones(2, requires_grad=True)
    out = (w * ember.tensor([1.0, 2.0])).sum()
    out.backward()
    first = w.grad
    (w * ember.tensor([10.0, 10.0])).sum().backward()
    assert w.grad is first  # accumulated in place, as in PyTorch
    np.testing.assert_array_equal(first.array, [11.0, 12.0])


def _backward_peak(loss) -> int:
    """The most memory ``loss.backward()`` held at once (tracemalloc sees NumPy's arrays)."""
    import tracemalloc

    tracemalloc.start()
    try:
        loss.backward()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "form", ["x @ W + b", "linear, input grad", "bias (C, 1, 1)", "cross-entropy logits"]
)
def test_a_leafs_gradient_made_by_backward_is_kept_not_copied(form):
    """The gradient a backward computes for a leaf (a matrix product's weight, a broadcast bias, a linear
    layer's input, cross-entropy's logits) owns its memory, so the leaf keeps it: one array of the leaf's
    size, not a second copy."""
    rng = np.random.default_rng(0)
    big = 1 << 21  # values in the leaf: 8 MiB of float32, far above everything else the backward makes
    if form == "x @ W + b":
        x = ember.tensor(rng.standard_normal((2, 1024), dtype=np.float32))
        leaf = ember.tensor(rng.standard_normal((1024, big // 1024), dtype=np.float32), requires_grad=True)
        b = ember.zeros(big // 1024, requires_grad=True)
        loss = (x @ leaf + b).sum()
        expected = np.ones(leaf.shape) * x.array.sum(0)[:, None]  # d sum(x W + b) / dW = x^T 1
    elif form == "linear, input grad":
        leaf = ember.tensor(rng.standard_normal((big // 8, 8), dtype=np.float32), requires_grad=True)
        weight = ember.tensor(rng.standard_normal((2, 8), dtype=np.float32))
        loss = ember.nn.functional.linear(leaf, weight).sum()
        expected = np.ones(leaf.shape) * weight.array.sum(0)  # d sum(x W^T) / dx = 1 W
    elif form == "cross-entropy logits":  # optimized directly, as in the course's softmax experiments
        leaf = ember.zeros(big // 1024, 1024, requires_grad=True)
        target = ember.tensor(np.arange(big // 1024) % 1024)
        loss = ember.nn.functional.cross_entropy(leaf, target, reduction="sum")
        expected = np.full(leaf.shape, 1 / 1024)  # softmax of zeros, minus the one-hot target
        expected[np.arange(leaf.shape[0]), target.array] -= 1
    else:
        x = ember.tensor(np.ones((2, big // 4, 2, 2), np.float32))
        leaf = ember.zeros(big // 4, 1, 1, requires_grad=True)
        loss = (x + leaf).sum()
        expected = np.full(leaf.shape, 2 * 2 * 2)  # each bias value is added to 2 x 2 x 2 values
    peak = _backward_peak(loss)
    assert peak < 1.5 * leaf.array.nbytes, f"backward held {peak / leaf.array.nbytes:.2f}x the leaf's size"
    np.testing.assert_allclose(leaf.grad.array, expected, rtol=1e-5, atol=1e-5)
