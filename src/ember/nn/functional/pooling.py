"""Pooling: max, average, adaptive, and max-unpooling, as ``Function``s with PyTorch's functional forms.

Pooling makes the representations smaller and more manageable and operates over each activation map
independently (the lecture's POOL layer): a window of F x F at stride S keeps the maximum (or the mean),
and the output has (N + 2P - F) / S + 1 positions per side. Max pooling remembers which element was the
maximum: its backward sends the gradient there and nowhere else, and max-unpooling (Zeiler and Fergus
2014; the "deconvolution networks" of semantic segmentation) puts values back at those positions. The
array work (one vectorized step per kernel tap, no loops over pixels) is in ``_pool_kernels``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember import ops
from ember.autograd import Context, Function, Tensor
from ember.nn.functional import _pool_kernels as kernels
from ember.nn.functional._pool_kernels import PoolGeometry
from ember.nn.functional.conv import IntPair, pair
from ember.ops import dual
from ember.ops.elementwise import all_finite, masked_by

OutputSize = int | None | Sequence[int | None]


def _check_input(operation: str, x: Tensor) -> None:
    if x.ndim not in (3, 4) or min(x.shape[-2:]) < 1:
        raise ValueError(
            f"{operation}: expected input (N, C, H, W) or unbatched (C, H, W), got {tuple(x.shape)}"
        )


def pool_geometry(
    operation: str,
    x: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None,
    padding: IntPair,
    dilation: IntPair,
    ceil_mode: bool,
    dilated_pad_limit: bool,
) -> PoolGeometry:
    """Check the arguments as PyTorch does and return the pooling's geometry."""
    _check_input(operation, x)
    kernel = pair(kernel_size, "kernel_size", operation)
    stride_ = (
        kernel
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else pair(stride, "stride", operation)
    )
    padding_, dilation_ = pair(padding, "padding", operation), pair(dilation, "dilation", operation)
    for name, value in (("kernel_size", kernel), ("stride", stride_), ("dilation", dilation_)):
        if min(value) <= 0:
            raise ValueError(f"{operation}: {name} must be positive, got {value}")
    for p, k, d in zip(padding_, kernel, dilation_, strict=True):
        limit = ((k - 1) * d + 1) // 2 if dilated_pad_limit else k // 2
        if p < 0 or p > limit:
            effective = "effective " if dilated_pad_limit else ""
            raise ValueError(
                f"{operation}: padding should be at most half of the {effective}kernel size, but got "
                f"padding={padding_}, kernel_size={kernel}"
                + (f" and dilation={dilation_}" if dilated_pad_limit else "")
            )
    height, width = x.shape[-2:]
    geo = kernels.geometry(height, width, kernel, stride_, dilation_, padding_, bool(ceil_mode))
    if geo.out_height < 1 or geo.out_width < 1:
        raise ValueError(
            f"{operation}: given input size {tuple(x.shape[-3:])}, the calculated output size "
            f"{(x.shape[-3], geo.out_height, geo.out_width)} is too small (kernel {kernel}, "
            f"stride {stride_}, padding {padding_}, dilation {dilation_})"
        )
    return geo


# ------------------------------------------------------------------------------------------------------
# Max pooling


class MaxPool2d(Function):
    """Maximum over each window; the gradient goes to the (first) maximum of the window."""

    differentiable_backward = True  # on a tensor, backward is RouteToTaps (create_graph)

    @staticmethod
    def forward(
        ctx: Context, x: np.ndarray, geometry: PoolGeometry, computed: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        values, arg = kernels.max_pool(x, geometry) if computed is None else computed
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(arg)
            ctx.geometry, ctx.shape = geometry, x.shape
        return values

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        (arg,) = ctx.saved_tensors
        if isinstance(grad, Tensor):  # recorded (create_graph)
            routed = RouteToTaps.apply(grad, arg, ctx.geometry, ctx.shape)
            return masked_by(ctx.inputs[0], routed), None, None
        return kernels.route_to_taps(grad, arg, ctx.geometry, ctx.shape), None, None


class RouteToTaps(Function):
    """Max pooling's backward as an operation of the gradient, for gradients of gradients: it is linear
    in the gradient, and its own backward picks each window's value at the window's maximum."""

    differentiable_backward = True

    @staticmethod
    def forward(
        ctx: Context, grad: np.ndarray, arg: np.ndarray, geometry: PoolGeometry, shape: tuple[int, ...]
    ) -> np.ndarray:
        ctx.flat = kernels.flat_indices(arg, geometry)
        return kernels.route_to_taps(grad, arg, geometry, shape)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, None, None, None]:
        flat = ctx.flat
        rows = grad.reshape(*flat.shape[:-2], -1)
        positions = flat.reshape(*flat.shape[:-2], -1)
        if isinstance(grad, Tensor):
            picked = rows.gather(-1, positions)
        else:
            picked = np.take_along_axis(rows, positions, -1)
        return picked.reshape(flat.shape), None, None, None


def max_pool2d(
    input: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """2-d max pooling of (N, C, H, W) or (C, H, W); with ``return_indices`` also the flat positions."""
    geo = pool_geometry("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, True)
    if not return_indices:
        return MaxPool2d.apply(input, geo, None)
    values, arg = kernels.max_pool(input.array, geo)
    output = MaxPool2d.apply(input, geo, (values, arg))
    return output, Tensor(kernels.flat_indices(arg, geo))


class MaxUnpool2d(Function):
    """Put each value at its remembered position of a zero (.., H_out, W_out) plane; backward gathers."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, indices: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        flat = indices.reshape(*indices.shape[:-2], -1)
        ctx.save_for_backward(flat)
        ctx.shape = x.shape
        out = np.zeros((*x.shape[:-2], size[0] * size[1]), dtype=x.dtype)
        np.put_along_axis(out, flat, x.reshape(flat.shape), axis=-1)
        return out.reshape(*x.shape[:-2], *size)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        (flat,) = ctx.saved_tensors
        g = grad.reshape(*grad.shape[:-2], -1)
        return np.take_along_axis(g, flat, axis=-1).reshape(ctx.shape), None, None


def unpool_output_size(
    x: Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    output_size: Sequence[int] | None,
) -> tuple[int, int]:
    """(H - 1) S - 2 P + F per side, or ``output_size`` if it is within a stride of that (PyTorch's rule)."""
    default = tuple(
        (n - 1) * s + k - 2 * p for n, k, s, p in zip(x.shape[-2:], kernel, stride, padding, strict=True)
    )
    if output_size is None:
        return default  # type: ignore[return-value]
    size = tuple(int(v) for v in output_size)[-2:]
    for d, (wanted, base, s) in enumerate(zip(size, default, stride, strict=True)):
        if not base - s < wanted < base + s:
            raise ValueError(
                f"max_unpool2d: invalid output_size {tuple(output_size)} (dim {d} must be between "
                f"{base - s} and {base + s}, exclusive)"
            )
    return size  # type: ignore[return-value]


def max_unpool2d(
    input: Tensor,
    indices: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """Partial inverse of ``max_pool2d``: values at the positions ``indices`` (from return_indices), zeros
    elsewhere."""
    operation = "max_unpool2d"
    _check_input(operation, input)
    if tuple(indices.shape) != tuple(input.shape):
        raise ValueError(
            f"{operation}: expected indices of the input's shape {tuple(input.shape)}, "
            f"got {tuple(indices.shape)}"
        )
    if indices.dtype.kind not in "iu":
        raise TypeError(
            f"{operation}: indices must be integers (as returned by max_pool2d), got {indices.dtype}"
        )
    kernel = pair(kernel_size, "kernel_size", operation)
    stride_ = kernel if stride is None else pair(stride, "stride", operation)
    size = unpool_output_size(input, kernel, stride_, pair(padding, "padding", operation), output_size)
    flat = indices.array
    if flat.size and (flat.min() < 0 or flat.max() >= size[0] * size[1]):
        bad = flat.max() if flat.max() >= size[0] * size[1] else flat.min()
        raise ValueError(
            f"{operation}: found an invalid max index {bad} (output planes are of size {size[0]}x{size[1]})"
        )
    return MaxUnpool2d.apply(input, indices, size)


# ------------------------------------------------------------------------------------------------------
# Average pooling


class AvgPool2d(Function):
    """Sum of each window divided by its size (PyTorch's divisor rules); backward spreads g / size."""

    differentiable_backward = True  # on a tensor, backward is SpreadToTaps (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, geometry: PoolGeometry, divisor: np.ndarray) -> np.ndarray:
        out = kernels.avg_pool_sum(x, geometry)
        np.divide(out, divisor, out=out, casting="unsafe")
        ctx.geometry, ctx.shape, ctx.divisor = geometry, x.shape, divisor
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        if isinstance(grad, Tensor):  # recorded (create_graph)
            return SpreadToTaps.apply(grad / ctx.divisor, ctx.geometry, ctx.shape), None, None
        scaled = np.divide(grad, ctx.divisor, dtype=grad.dtype)
        return kernels.spread_to_taps(scaled, ctx.geometry, ctx.shape), None, None


class SpreadToTaps(Function):
    """Average pooling's backward as an operation (each tap of a window receives the window's value); its
    transpose is the windows' sums, ``SumOverTaps``. Linear both, so differentiable to any order."""

    differentiable_backward = True

    @staticmethod
    def forward(ctx: Context, grad: np.ndarray, geometry: PoolGeometry, shape: tuple[int, ...]) -> np.ndarray:
        ctx.geometry = geometry
        return kernels.spread_to_taps(grad, geometry, shape)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, None, None]:
        return _kernel_or_recorded(SumOverTaps, grad, ctx.geometry), None, None


class SumOverTaps(Function):
    """The sum of each pooling window (``SpreadToTaps``'s transpose)."""

    differentiable_backward = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, geometry: PoolGeometry) -> np.ndarray:
        ctx.geometry, ctx.shape = geometry, x.shape
        return kernels.avg_pool_sum(x, geometry)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, None]:
        return _kernel_or_recorded(SpreadToTaps, grad, ctx.geometry, ctx.shape), None


def _kernel_or_recorded(function: type[Function], value: Any, *args: Any) -> Any:
    """``function`` of an array (its kernel, nothing recorded), or of a tensor (recorded)."""
    out = function.apply(value, *args)
    return out if isinstance(value, Tensor) else out.array


def avg_pool2d(
    input: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-d average pooling of (N, C, H, W) or (C, H, W), as PyTorch's."""
    geo = pool_geometry("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode, False)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool2d: divisor_override must be non-zero")
        divisor = np.full((geo.out_height, geo.out_width), divisor_override, dtype=np.int64)
    else:
        divisor = kernels.average_divisor(geo, count_include_pad)
    return AvgPool2d.apply(input, geo, divisor.astype(input.dtype))


# ------------------------------------------------------------------------------------------------------
# Adaptive pooling


def adaptive_size(operation: str, x: Tensor, output_size: OutputSize) -> tuple[int, int]:
    """(Ho, Wo) from an int, a pair, or a pair with None (keep that input size)."""
    _check_input(operation, x)
    sizes = (
        [output_size, output_size]
        if output_size is None or isinstance(output_size, int)
        else list(output_size)
    )
    if len(sizes) != 2:
        raise ValueError(f"{operation}: output_size must be an int or a pair, got {output_size!r}")
    resolved = tuple(int(x.shape[-2 + d]) if s is None else int(s) for d, s in enumerate(sizes))
    if min(resolved) < 1:
        raise ValueError(f"{operation}: output_size must be positive, got {output_size!r}")
    return resolved  # type: ignore[return-value]


def _divides(x: Tensor, size: tuple[int, int]) -> bool:
    return x.shape[-2] % size[0] == 0 and x.shape[-1] % size[1] == 0


def window_sums(x: Any, start: np.ndarray, end: np.ndarray, axis: int) -> Any:
    """Sum of ``x`` (an array or a tensor) over each window [start[i], end[i]) along ``axis``, one slice
    sum per window: an inf or NaN stays in the windows that hold it (a product with a 0/1 window matrix
    would spread it to all, 0 * inf being NaN)."""
    index: list[Any] = [slice(None)] * x.ndim
    sums = []
    with np.errstate(invalid="ignore"):  # inf + -inf in one window is NaN, silently (as in PyTorch)
        for first, last in zip(start.tolist(), end.tolist(), strict=True):
            index[axis] = slice(first, last)
            sums.append(dual.sum(x[tuple(index)], axis, keepdim=True))
    return ops.cat(sums, axis) if isinstance(x, Tensor) else np.concatenate(sums, axis)


Windows = tuple[np.ndarray, np.ndarray]  # the starts and the ends of the windows along one axis


def _adaptive_windows(
    shape: tuple[int, ...], size: tuple[int, int], dtype: Any
) -> tuple[Windows, Windows, np.ndarray]:
    """The adaptive windows (starts, ends) along the rows and along the columns, and each output's window
    size (Ho, Wo) in ``dtype``."""
    rows, cols = kernels.adaptive_windows(shape[-2], size[0]), kernels.adaptive_windows(shape[-1], size[1])
    return rows, cols, np.outer(rows[1] - rows[0], cols[1] - cols[0]).astype(dtype)


def _adaptive_mean(x: Any, size: tuple[int, int]) -> Any:
    """Mean over the adaptive windows: sums along the rows, then the columns, divided by the window sizes."""
    rows, cols, counts = _adaptive_windows(x.shape, size, dual.array_of(x).dtype)
    return window_sums(window_sums(x, *rows, -2), *cols, -1) / counts


class AdaptiveAvgPool2d(Function):
    """Mean over adaptive windows. Where every value is finite, a separable linear map with 0/1 window
    matrices, ``Rows @ x @ Cols^T`` divided by the window sizes, and its transpose backward (fast GEMMs);
    where any is inf or NaN, window sums (``_adaptive_mean``; backward: each position sums the windows that
    cover it, ``covering_windows``), so that it stays in its own windows, as in PyTorch."""

    @staticmethod
    def composite(x: Tensor, size: tuple[int, int]) -> Tensor:
        return _adaptive_mean(x, size)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        ctx.sizes = (x.shape[-2:], size)
        if not all_finite(x):
            return _adaptive_mean(x, size)
        (height, width), (rows, cols, counts) = x.shape[-2:], _adaptive_windows(x.shape, size, x.dtype)
        out = kernels.window_matrix(*rows, height, x.dtype) @ (
            x @ kernels.window_matrix(*cols, width, x.dtype).T
        )
        out /= counts
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        (height, width), size = ctx.sizes
        rows, cols, counts = _adaptive_windows((height, width), size, grad.dtype)
        share = grad / counts
        if all_finite(share):
            row_matrix = kernels.window_matrix(*rows, height, grad.dtype)
            return row_matrix.T @ (share @ kernels.window_matrix(*cols, width, grad.dtype)), None
        by_row = window_sums(share, *kernels.covering_windows(*rows, height), -2)
        return window_sums(by_row, *kernels.covering_windows(*cols, width), -1), None


def adaptive_avg_pool2d(input: Tensor, output_size: OutputSize) -> Tensor:
    """Average pooling to a fixed output size (windows floor(i H / Ho) .. ceil((i + 1) H / Ho))."""
    size = adaptive_size("adaptive_avg_pool2d", input, output_size)
    if _divides(input, size):
        kernel = (input.shape[-2] // size[0], input.shape[-1] // size[1])
        return avg_pool2d(input, kernel, kernel)
    return AdaptiveAvgPool2d.apply(input, size)


class AdaptiveMaxPool2d(Function):
    """Maximum over adaptive windows; the gradient goes to each window's (first) maximum."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, values: np.ndarray, indices: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(indices)
        ctx.plane = x.shape[-2:]
        return values

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        (indices,) = ctx.saved_tensors
        return kernels.scatter_to_planes(grad, indices, ctx.plane), None, None


def adaptive_max_pool2d(input: Tensor, output_size: OutputSize, return_indices: bool = False) -> Any:
    """Max pooling to a fixed output size; with ``return_indices`` also the flat positions of the maxima."""
    size = adaptive_size("adaptive_max_pool2d", input, output_size)
    if _divides(input, size):
        kernel = (input.shape[-2] // size[0], input.shape[-1] // size[1])
        return max_pool2d(input, kernel, kernel, return_indices=return_indices)
    values, indices = kernels.adaptive_max(input.array, size)
    output = AdaptiveMaxPool2d.apply(input, values, indices)
    return (output, Tensor(indices)) if return_indices else output
