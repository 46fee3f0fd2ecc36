"""``Tensor.data`` is PyTorch's (a tensor sharing storage, outside the graph); ``.array`` is the array."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember import nn


def test_data_is_a_tensor_sharing_memory_with_no_graph():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    for tensor in (x, y):
        data = tensor.data
        assert type(data) is ember.Tensor and not data.requires_grad and data.grad_fn is None and data.is_leaf
        assert np.shares_memory(data.array, tensor.array)
    assert type(nn.Parameter(ember.ones(2)).data) is ember.Tensor  # as torch: a plain tensor, not a Parameter


def test_array_is_the_values_themselves_and_read_only_as_an_attribute():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    assert x.array is x.numpy(force=True) and isinstance(x.array, np.ndarray)
    with pytest.raises(AttributeError):
        x.array = np.zeros(2, np.float32)  # type: ignore[misc]


def _sgd_by_hand(lib, update: str) -> list[np.ndarray]:
    """A linear regression trained by writing into ``p.data``, as PyTorch tutorials do."""
    lib.manual_seed(0)
    w = lib.nn.Parameter(lib.tensor([[0.5, -0.25], [0.1, 0.3]]))
    b = lib.tensor([0.0, 0.1], requires_grad=True)
    x = lib.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    target = lib.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    for _ in range(3):
        loss = ((x @ w + b - target) ** 2).mean()
        loss.backward()
        for p in (w, b):
            if update == "add_":
                p.data.add_(p.grad, alpha=-0.1)
            elif update == "isub":
                p.data -= 0.1 * p.grad
            else:  # sub_ then zero the gradient through its .data
                p.data.sub_(0.1 * p.grad.data)
            p.grad.data.zero_()
    return [w.detach().numpy().copy(), b.detach().numpy().copy()]


@pytest.mark.parametrize("update", ["add_", "isub", "sub_"])
def test_manual_updates_through_data_write_into_the_parameter_as_in_torch(update):
    for ours, theirs in zip(_sgd_by_hand(ember, update), _sgd_by_hand(torch, update), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_assigning_data_replaces_the_values_and_keeps_the_tensor():
    p = nn.Parameter(ember.ones(3))
    replacement = ember.zeros(5, dtype=ember.float64)
    p.data = replacement
    assert p.requires_grad and p.shape == (5,) and p.dtype == np.float64
    assert np.shares_memory(p.array, replacement.array)  # as torch: the storage of the given tensor
    p.data.fill_(2.0)
    assert replacement.tolist() == [2.0] * 5


def test_assigning_data_wrong_kinds_of_value_fail_as_in_torch():
    p = nn.Parameter(ember.ones(3))
    with pytest.raises(TypeError, match="must be set to a Tensor, not list"):
        p.data = [1.0, 2.0]  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="floating point"):
        p.data = ember.tensor([1, 2])


def test_changes_through_data_are_not_seen_by_autograd_as_in_torch():
    """PyTorch's caveat of ``.data`` (``.detach()`` is the checked way): a saved input changed through it
    is not detected, and the gradient uses the new values."""
    grads = []
    for lib in (ember, torch):
        w = lib.tensor([1.0, 2.0])
        x = lib.tensor([1.0, 1.0], requires_grad=True)
        y = (x * w).sum()
        w.data.mul_(3)
        y.backward()
        grads.append(np.asarray(x.grad.tolist()))
    np.testing.assert_array_equal(grads[0], grads[1])
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        w = ember.tensor([1.0, 2.0])
        x = ember.tensor([1.0, 1.0], requires_grad=True)
        y = (x * w).sum()
        w.detach().mul_(3)  # the checked way shares the version counter
        y.backward()
