"""Functions of NumPy arrays or Ember tensors alike, for backward formulas written once.

A backward marked ``differentiable_backward`` runs on arrays normally and on tensors under
``create_graph=True`` (``ember.autograd.backprop``). Operators (``+ - * / @``, comparisons) and
``.reshape``/``.shape``/``.T`` already mean the same for both; these are the functions NumPy and PyTorch
spell differently (``axis``/``keepdims`` against ``dim``/``keepdim``). Each takes NumPy's path for an array
(the ordinary backward, no slower than before) and the tensors' methods for a tensor (recorded). The tensor
path uses only Tensor's method table, so this module imports no other operation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.backends import _dnnl


def array_of(value: Any) -> Any:
    """The values behind a tensor (for constants derived from it, such as masks), or ``value`` itself."""
    return value.array if isinstance(value, Tensor) else value


def sum(x: Any, axes: Any, keepdim: bool = False) -> Any:
    if isinstance(x, Tensor):
        return x.sum(axes, keepdim)
    return np.sum(x, axis=axes, keepdims=keepdim)


def matmul(a: Any, b: Any) -> Any:
    """``a @ b``; for arrays, float32 matrices may go to oneDNN's sgemm (``ember.backends._dnnl.matmul``)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a @ b
    return _dnnl.matmul(a, b)


def exp(x: Any) -> Any:
    return x.exp() if isinstance(x, Tensor) else np.exp(x)


def log(x: Any) -> Any:
    return x.log() if isinstance(x, Tensor) else np.log(x)


def sign(x: Any) -> Any:
    return x.sign() if isinstance(x, Tensor) else np.sign(x)


def where(condition: Any, a: Any, b: Any) -> Any:
    """``a`` where ``condition`` holds, else ``b``; ``condition`` is a constant (array, bool or mask)."""
    if isinstance(condition, bool):  # a Python comparison with a scalar operand
        return a if condition else b
    condition = array_of(condition)
    if isinstance(a, Tensor):
        return a.masked_fill(~condition, b)
    if isinstance(b, Tensor):
        return b.masked_fill(condition, a)
    return np.where(condition, a, b)


def astype(x: Any, dtype: Any) -> Any:
    return x.to(dtype) if isinstance(x, Tensor) else x.astype(dtype, copy=False)


def zeros_like(x: Any) -> Any:
    zeros = np.zeros(x.shape, dtype=x.dtype)
    return Tensor(zeros) if isinstance(x, Tensor) else zeros


def permute(x: Any, axes: tuple[int, ...]) -> Any:
    return x.permute(axes) if isinstance(x, Tensor) else x.transpose(axes)


def swapaxes(x: Any, a: int, b: int) -> Any:
    return x.transpose(a, b) if isinstance(x, Tensor) else np.swapaxes(x, a, b)


def moveaxis(x: Any, source: int, destination: int) -> Any:
    if not isinstance(x, Tensor):
        return np.moveaxis(x, source, destination)
    order = [d for d in range(x.ndim) if d != source % x.ndim]
    order.insert(destination % x.ndim, source % x.ndim)
    return x.permute(tuple(order))


def flip(x: Any, axes: Any) -> Any:
    return x.flip(axes) if isinstance(x, Tensor) else np.flip(x, axes)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    return x.expand(shape) if isinstance(x, Tensor) else np.broadcast_to(x, shape)
