"""Reverse-mode automatic differentiation: ``Function``, the graph walk, grad modes and ``gradcheck``."""

from ember.autograd.function import Context, Function
from ember.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ember.autograd.gradcheck import GradcheckError, gradcheck
from ember.autograd.graph import backward

__all__ = [
    "Context",
    "Function",
    "GradcheckError",
    "backward",
    "enable_grad",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
