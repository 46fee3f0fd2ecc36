"""Softmax, log-softmax and log-sum-exp, computed stably.

Softmax turns scores into probabilities: exponentiate ("unnormalized probabilities"), then normalize. For
large scores e^s overflows, so every form here first subtracts the maximum score (the log-sum-exp trick),
which changes nothing mathematically. Backward: d softmax = y (g - sum(g y)); d log_softmax = g - y sum(g).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor
from ember.ops import dual
from ember.ops.dims import Dim, normalize_dim, normalize_dims
from ember.ops.reduction import expand_back


def _shifted(x: np.ndarray, axis: Any) -> np.ndarray:
    """x minus its maximum along ``axis`` (an infinite maximum is replaced by 0, as PyTorch does)."""
    peak = np.max(x, axis=axis, keepdims=True)
    peak[~np.isfinite(peak)] = 0
    return x - peak


def log_sum_exp(x: np.ndarray, axis: Any, keepdims: bool = True) -> np.ndarray:
    peak = np.max(x, axis=axis, keepdims=True)
    peak[~np.isfinite(peak)] = 0
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    """Softmax of an array (no graph): for losses and layers that fuse it with their own backward."""
    out = _shifted(x, axis)
    np.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out


def log_softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    out = _shifted(x, axis)
    with np.errstate(divide="ignore"):
        out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))
    return out


class Softmax(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int) -> np.ndarray:
        out = softmax_array(x, axis)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        (out,) = ctx.saved_tensors
        return out * (grad - dual.sum(grad * out, ctx.axis, keepdim=True)), None


class LogSoftmax(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int) -> np.ndarray:
        out = log_softmax_array(x, axis)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        (out,) = ctx.saved_tensors
        return grad - dual.exp(out) * dual.sum(grad, ctx.axis, keepdim=True), None


class LogSumExp(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: Any, keepdim: bool) -> np.ndarray:
        out = log_sum_exp(x, axes, keepdims=keepdim)
        ctx.save_for_backward(x, out)  # the output itself, so that a recorded backward can use it
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        x, out = ctx.saved_tensors
        share = dual.exp(x - expand_back(out, x.shape, ctx.axes, ctx.keepdim))
        return expand_back(grad, x.shape, ctx.axes, ctx.keepdim) * share, None, None


def _single_dim(dim: int | None, x: Tensor, operation: str) -> int:
    if dim is None:
        raise TypeError(f"{operation}: pass dim= explicitly (the dimension that holds the classes)")
    return normalize_dim(dim, x.ndim, operation)


def softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """Probabilities along ``dim``: e^x / sum(e^x), computed with the maximum subtracted."""
    return Softmax.apply(x, _single_dim(dim, x, "softmax"))


def log_softmax(x: Tensor, dim: int | None = None) -> Tensor:
    return LogSoftmax.apply(x, _single_dim(dim, x, "log_softmax"))


def logsumexp(x: Tensor, dim: Dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim``, without overflow."""
    return LogSumExp.apply(x, normalize_dims(dim, x.ndim, "logsumexp"), keepdim)
