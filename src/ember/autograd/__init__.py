"""The engine: ``Tensor``, ``Function`` and its ``Context``, the graph walk, grad modes and ``gradcheck``.

Reverse-mode automatic differentiation on NumPy arrays. The modules import one another in one direction
only: ``grad_mode`` and ``graph`` (nodes and the walk, on arrays) at the bottom, then ``methods`` (Tensor's
PyTorch method table), ``tensor``, ``function`` and ``gradcheck``. Nothing here imports ``ember.ops``; it
binds itself to the method table when it is imported (``methods.bind_operations``).
"""

from typing import Any

from ember.autograd.function import Function
from ember.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ember.autograd.gradcheck import GradcheckError, gradcheck
from ember.autograd.graph import Context
from ember.autograd.size import Size
from ember.autograd.tensor import Tensor, from_numpy


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool = False) -> None:
    """``tensor.backward(grad)`` for a tensor or for each of a sequence (``torch.autograd.backward``)."""
    if isinstance(tensors, Tensor):
        tensors, grad_tensors = [tensors], [grad_tensors]
    grads = [None] * len(tensors) if grad_tensors is None else list(grad_tensors)
    for tensor, grad in zip(tensors, grads, strict=True):
        tensor.backward(grad, retain_graph=retain_graph)


__all__ = [
    "Context",
    "Function",
    "GradcheckError",
    "Size",
    "Tensor",
    "backward",
    "enable_grad",
    "from_numpy",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
