"""Reductions over dimensions: sum, prod, mean, var, std, max/min (values and indices), argmax/argmin, norm,
count_nonzero.

``dim`` is an int, a tuple of ints or None (all dimensions); ``keepdim`` keeps reduced dimensions with size
1. In backward the upstream gradient is broadcast back over the reduced dimensions: sum copies it to every
element, mean divides it by the count, max routes it to the element that won, prod multiplies it by the
product of the other elements.
"""

from __future__ import annotations

import builtins
from typing import Any, NamedTuple

import numpy as np

from ember import dtypes
from ember.autograd import Context, Function, Tensor, from_numpy
from ember.ops import dual
from ember.ops.arithmetic import pow
from ember.ops.dims import Dim, normalize_dim, normalize_dims
from ember.ops.elementwise import abs, maximum, minimum
from ember.ops.indexing import gather


def expand_back(grad: Any, shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdim: bool) -> Any:
    """Broadcast the gradient of a reduction back to the input's shape (a read-only view, no copy)."""
    if not keepdim and shape:
        grad = grad.reshape(tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape)))
    return dual.broadcast_to(grad, shape)


def reduced_count(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> int:
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


class Sum(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: Any, keepdim: bool, dtype: Any) -> np.ndarray:
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return np.sum(x, axis=axes, keepdims=keepdim, dtype=dtype)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None, None]:
        return expand_back(grad, ctx.shape, ctx.axes, ctx.keepdim), None, None, None


class Mean(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: Any, keepdim: bool) -> np.ndarray:
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return np.mean(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        count = reduced_count(ctx.shape, ctx.axes)
        return expand_back(grad / count, ctx.shape, ctx.axes, ctx.keepdim), None, None


class Variance(Function):
    """var = sum((x - mean)^2) / (N - correction); std = sqrt(var). Bessel's correction is 1 by default."""

    @staticmethod
    def composite(x: Tensor, axes: Any, correction: float, keepdim: bool, take_sqrt: bool) -> Tensor:
        """The same from Ember operations (gradients of gradients, ``ember.autograd.backprop``)."""
        centered = x - x.mean(axes, keepdim=True)
        denominator = builtins.max(reduced_count(x.shape, axes) - correction, 0)
        out = (centered * centered).sum(axes, keepdim) / denominator
        return out.sqrt() if take_sqrt else out

    @staticmethod
    def forward(
        ctx: Context, x: np.ndarray, axes: Any, correction: float, keepdim: bool, take_sqrt: bool
    ) -> np.ndarray:
        centered = x - x.mean(axis=axes, keepdims=True)
        denominator = builtins.max(reduced_count(x.shape, axes) - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):  # N <= correction gives nan/inf, as PyTorch
            out = np.sum(centered * centered, axis=axes, keepdims=keepdim) / x.dtype.type(denominator)
            if take_sqrt:
                out = np.sqrt(out)
        ctx.save_for_backward(centered, out)
        ctx.axes, ctx.keepdim, ctx.denominator, ctx.take_sqrt = (
            axes,
            keepdim,
            denominator,
            take_sqrt,
        )
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None, None, None]:
        centered, out = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            local = grad / (ctx.denominator * out) if ctx.take_sqrt else grad * (2 / ctx.denominator)
        local = local.astype(centered.dtype, copy=False)
        return (
            expand_back(local, centered.shape, ctx.axes, ctx.keepdim) * centered,
            None,
            None,
            None,
            None,
        )


class Extremum(Function):
    """amax/amin: the gradient is shared evenly by the elements that attain the extremum (as PyTorch)."""

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: Any, keepdim: bool, largest: bool) -> np.ndarray:
        out = (np.max if largest else np.min)(x, axis=axes, keepdims=keepdim)
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None, None]:
        x, out = (dual.array_of(v) for v in ctx.saved_tensors)  # which elements won: a constant
        winners = x == expand_back(out, x.shape, ctx.axes, ctx.keepdim)
        count = winners.sum(axis=ctx.axes, keepdims=True)
        share = expand_back(grad, x.shape, ctx.axes, ctx.keepdim) / count
        return dual.astype(dual.where(winners, share, 0), grad.dtype), None, None, None


class Product(Function):
    """prod(x) along one axis (or all elements); d prod / d x_i is the product of the other elements.

    That product is taken as (product of those before i) * (product of those after i), two running
    products, rather than prod / x_i: exact where x has zeros (one zero: only its position gets a gradient;
    two or more: none does), as PyTorch's prod_backward.
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int | None, keepdim: bool, dtype: Any) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.axis, ctx.keepdim = axis, keepdim
        return np.asarray(np.prod(x, axis=axis, keepdims=keepdim, dtype=dtype))

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None, None]:
        (x,) = ctx.saved_tensors
        axes = None if ctx.axis is None else (ctx.axis,)
        grad = expand_back(grad, x.shape, axes, ctx.keepdim)
        along = x.reshape(-1) if ctx.axis is None else np.moveaxis(x, ctx.axis, -1)
        before, after = np.ones_like(along), np.ones_like(along)
        np.cumprod(along[..., :-1], axis=-1, out=before[..., 1:])  # x_0 ... x_(i-1)
        np.cumprod(along[..., :0:-1], axis=-1, out=after[..., -2::-1])  # x_(i+1) ... x_(n-1)
        others = before * after
        others = others.reshape(x.shape) if ctx.axis is None else np.moveaxis(others, -1, ctx.axis)
        return (grad * others).astype(x.dtype, copy=False), None, None, None


class ValuesIndices(NamedTuple):
    """``max(dim=...)`` and ``min(dim=...)`` return both, as ``torch.return_types``."""

    values: Tensor
    indices: Tensor


def sum(x: Tensor, dim: Dim = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    if dtype is None and x.dtype.kind in "biu":
        dtype = np.int64  # integer sums do not overflow their type, as in PyTorch
    return Sum.apply(x, normalize_dims(dim, x.ndim, "sum"), keepdim, dtype)


def prod(x: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The product of all elements, or along one dimension ``dim`` (an int, as PyTorch)."""
    if dim is not None and not isinstance(dim, int | np.integer):
        raise TypeError(f"prod: dim must be one int (or None for all elements), not {dim!r}")
    if dtype is None and x.dtype.kind in "biu":
        dtype = np.int64  # as sum: integer products are int64, as in PyTorch
    elif dtype is not None:
        dtype = dtypes.as_dtype(dtype)
    axis = None if dim is None else normalize_dim(dim, x.ndim, "prod")
    return Product.apply(x, axis if x.ndim else None, keepdim and dim is not None, dtype)


def count_nonzero(x: Tensor, dim: Dim = None) -> Tensor:
    """How many elements are not zero (over ``dim``: an int, a tuple, or None for all); int64."""
    axes = normalize_dims(dim, x.ndim, "count_nonzero")
    return from_numpy(np.asarray(np.count_nonzero(x.array, axis=axes), dtype=np.int64))


def mean(x: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    if x.dtype.kind != "f":
        raise TypeError(f"mean: the input must be a floating-point tensor, not {x.dtype}; use x.float()")
    return Mean.apply(x, normalize_dims(dim, x.ndim, "mean"), keepdim)


def _correction(unbiased: bool | None, correction: float | None) -> float:
    if correction is not None:
        return float(correction)
    return 0.0 if unbiased is False else 1.0


def var(
    x: Tensor,
    dim: Dim = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Tensor:
    """Variance; ``unbiased=False`` (or ``correction=0``) divides by N instead of N - 1."""
    axes = normalize_dims(dim, x.ndim, "var")
    return Variance.apply(x, axes, _correction(unbiased, correction), keepdim, False)


def std(
    x: Tensor,
    dim: Dim = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Tensor:
    axes = normalize_dims(dim, x.ndim, "std")
    return Variance.apply(x, axes, _correction(unbiased, correction), keepdim, True)


def amax(x: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    return Extremum.apply(x, normalize_dims(dim, x.ndim, "amax"), keepdim, True)


def amin(x: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    return Extremum.apply(x, normalize_dims(dim, x.ndim, "amin"), keepdim, False)


def _extremum_along(x: Tensor, dim: int, keepdim: bool, find: Any) -> ValuesIndices:
    """Values and their indices along ``dim``: the gradient goes to the returned index only."""
    axis = normalize_dim(dim, x.ndim, find.__name__)
    if x.ndim == 0:
        return ValuesIndices(x, from_numpy(np.zeros((), dtype=np.int64)))
    indices = np.expand_dims(find(x.array, axis=axis), axis)
    values = gather(x, axis, indices)
    indices_tensor = from_numpy(indices if keepdim else indices.squeeze(axis))
    return ValuesIndices(values if keepdim else values.squeeze(axis), indices_tensor)


def max(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The largest value (no ``dim``), ``(values, indices)`` along ``dim``, or with a tensor in place of
    ``dim`` the elementwise ``maximum`` of the two (``torch.max(a, b)``)."""
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    if dim is None:
        return amax(x)
    return _extremum_along(x, dim, keepdim, np.argmax)


def min(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The smallest value, ``(values, indices)`` along ``dim``, or ``minimum(x, other)`` (see ``max``)."""
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    if dim is None:
        return amin(x)
    return _extremum_along(x, dim, keepdim, np.argmin)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    axis = None if dim is None else normalize_dim(dim, x.ndim, "argmax")
    return from_numpy(np.asarray(np.argmax(x.array, axis=axis, keepdims=keepdim).astype(np.int64)))


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    axis = None if dim is None else normalize_dim(dim, x.ndim, "argmin")
    return from_numpy(np.asarray(np.argmin(x.array, axis=axis, keepdims=keepdim).astype(np.int64)))


def all(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return from_numpy(np.asarray(np.all(x.array, axis=dim, keepdims=keepdim)))


def any(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return from_numpy(np.asarray(np.any(x.array, axis=dim, keepdims=keepdim)))


class EuclideanNorm(Function):
    """sqrt(sum x^2); its gradient x / norm is taken as 0 where the norm is 0 (as PyTorch)."""

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: Any, keepdim: bool) -> np.ndarray:
        out = np.sqrt(np.sum(x * x, axis=axes, keepdims=keepdim))
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        x, out = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = dual.astype(dual.where(out == 0, 0, grad / out), grad.dtype)
        return expand_back(scale, x.shape, ctx.axes, ctx.keepdim) * x, None, None


def norm(x: Tensor, p: Any = "fro", dim: Dim = None, keepdim: bool = False) -> Tensor:
    """The vector p-norm over ``dim`` (default: all elements); p is 'fro' or 2, 1, inf, -inf, 0 or a float."""
    axes = normalize_dims(dim, x.ndim, "norm")
    if p in ("fro", 2, 2.0):
        return EuclideanNorm.apply(x, axes, keepdim)
    if p == float("inf"):
        return amax(abs(x), axes, keepdim)
    if p == float("-inf"):
        return amin(abs(x), axes, keepdim)
    if p == 0:
        return from_numpy(np.asarray(np.sum(x.array != 0, axis=axes, keepdims=keepdim).astype(x.dtype)))
    if p == 1:
        return sum(abs(x), axes, keepdim)
    if not isinstance(p, int | float):
        raise ValueError(f"norm: unsupported p={p!r}; use 'fro', a number, inf or -inf")
    return pow(sum(pow(abs(x), p), axes, keepdim), 1.0 / p)
