"""The engine: ``Tensor``, ``Function`` and its ``Context``, the graph walk, grad modes and ``gradcheck``.

Reverse-mode automatic differentiation on NumPy arrays. The modules import one another in one direction
only: ``grad_mode`` and ``graph`` (nodes and the walk, on arrays) at the bottom, then ``methods`` (Tensor's
PyTorch method table), ``tensor``, ``function``, ``backprop`` (backward, grad, gradients of gradients)
and ``gradcheck``. Nothing here imports ``ember.ops``; it
binds itself to the method table when it is imported (``methods.bind_operations``).
"""

from ember.autograd.backprop import DoubleBackwardError, backward, grad
from ember.autograd.function import Function
from ember.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from ember.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from ember.autograd.graph import Context
from ember.autograd.size import Size
from ember.autograd.tensor import Tensor, from_numpy, is_tensor

__all__ = [
    "Context",
    "DoubleBackwardError",
    "Function",
    "GradcheckError",
    "Size",
    "Tensor",
    "backward",
    "enable_grad",
    "from_numpy",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "inference_mode",
    "is_grad_enabled",
    "is_tensor",
    "no_grad",
    "set_grad_enabled",
]
