"""Running sums: ``cumsum`` along a dimension (out[i] = x[0] + ... + x[i]).

Each x[j] enters every out[i] with i >= j, so its gradient is the sum of the upstream gradient over those
i: the running sum of the gradient taken from the end, ``flip(cumsum(flip(grad)))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember import dtypes
from ember.autograd import Context, Function, Tensor
from ember.ops import dual
from ember.ops.dims import normalize_dim


class CumulativeSum(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int, dtype: Any) -> np.ndarray:
        ctx.axis, ctx.dtype = axis, x.dtype
        return np.cumsum(x, axis=axis, dtype=dtype)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, None, None]:
        reversed_grad = dual.flip(grad, (ctx.axis,))
        summed: Any
        if isinstance(grad, Tensor):  # recorded (create_graph): the same running sum, as an operation
            summed = CumulativeSum.apply(reversed_grad, ctx.axis, None)
        else:
            summed = np.cumsum(reversed_grad, axis=ctx.axis)
        return dual.astype(dual.flip(summed, (ctx.axis,)), ctx.dtype), None, None


def cumsum(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """The running sum along ``dim``; integer and boolean tensors sum in int64, as PyTorch."""
    if dtype is None and x.dtype.kind in "biu":
        dtype = np.int64
    elif dtype is not None:
        dtype = dtypes.as_dtype(dtype)
    if x.ndim == 0:
        normalize_dim(dim, 0, "cumsum")  # 0 and -1 name the single element
        return CumulativeSum.apply(x.reshape(1), 0, dtype).reshape(())
    return CumulativeSum.apply(x, normalize_dim(dim, x.ndim, "cumsum"), dtype)
