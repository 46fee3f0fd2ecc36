"""2-d convolution and transposed convolution: ``conv2d`` and ``conv_transpose2d``, each one ``Function``.

A convolutional layer (LeCun et al. 1998) slides F x F filters over the input volume; each filter spans the
full depth of the input and produces one activation map. With input size N (per side), filter F, padding P
and stride S the output has (N + 2P - F) / S + 1 positions per side (the lecture's formula; dilation D
spreads the filter to D (F - 1) + 1). The forward and both gradients are one large GEMM each over an
im2col view (cs231n's trick, laid out for speed in ``_conv_kernels``):

    y = W @ cols(x) + b,   dW = dy @ cols(x)^T,   dx = transposed convolution of dy with W.

The transposed convolution (Dumoulin and Visin 2016; "deconvolution", "fractionally strided convolution")
is exactly the gradient of a convolution with respect to its input, so ``conv_transpose2d`` runs the same
kernels with the roles swapped: its forward is a convolution's input gradient, its input gradient is a
convolution's forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember import ops
from ember.autograd import Context, Function, Tensor
from ember.nn.functional import _conv_kernels, _onednn
from ember.nn.functional._conv_grid import ConvGeometry, geometry
from ember.ops.elementwise import all_finite

IntPair = int | Sequence[int]


def backend(dtype: np.dtype, geo: ConvGeometry) -> Any:
    """The kernels that compute a convolution's products: oneDNN's for float32 where the library is
    installed (``_onednn``), else the NumPy ones (``_conv_kernels``), which stay the reference."""
    return _onednn if _onednn.takes(dtype, geo) else _conv_kernels


def pair(value: IntPair, name: str, operation: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (height, width), as PyTorch's ``_pair``."""
    values = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(values) == 1:
        values = (values[0], values[0])
    if len(values) != 2 or not all(isinstance(v, int | np.integer) for v in values):
        raise ValueError(f"{operation}: {name} must be an int or a pair of ints, got {value!r}")
    return int(values[0]), int(values[1])


def resolve_padding(
    padding: str | IntPair,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    operation: str,
) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from an int, a pair, 'valid' or 'same' (PyTorch's split of odd totals)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(
                f"{operation}: padding must be 'valid', 'same', an int or a pair, got {padding!r}"
            )
        if stride != (1, 1):
            raise ValueError(f"{operation}: padding='same' is not supported for strided convolutions")
        (kh, kw), (dh, dw) = kernel, dilation
        total_h, total_w = dh * (kh - 1), dw * (kw - 1)
        return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    ph, pw = pair(padding, "padding", operation)
    if ph < 0 or pw < 0:
        raise ValueError(f"{operation}: padding must be non-negative, got {padding!r}")
    return (ph, ph, pw, pw)


def _check_positive(operation: str, **values: tuple[int, int]) -> None:
    for name, value in values.items():
        if min(value) <= 0:
            raise ValueError(f"{operation}: {name} must be positive, got {value}")


def conv_geometry(
    operation: str,
    input_shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int, int, int],
) -> ConvGeometry:
    """The geometry of a convolution of a (N, C, H, W) input, or an error if the kernel does not fit."""
    _check_positive(operation, kernel_size=kernel, stride=stride, dilation=dilation)
    n, _, height, width = input_shape
    top, bottom, left, right = padding
    padded = (height + top + bottom, width + left + right)
    extent = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    if extent[0] > padded[0] or extent[1] > padded[1]:
        dilated = f" (dilated to {extent})" if extent != kernel else ""
        raise ValueError(
            f"{operation}: the kernel {kernel}{dilated} is larger than the padded input {padded} "
            f"(input {(height, width)} plus padding {padding} as top, bottom, left, right); the output "
            "would be empty"
        )
    return geometry(n, height, width, kernel, stride, dilation, padding)


def _checked_operands(
    operation: str, input: Tensor, weight: Tensor, bias: Tensor | None, groups: int, transposed: bool
) -> tuple[Tensor, bool]:
    """Check shapes and types of a (transposed) convolution; returns the batched input and whether it was."""
    layout = "(C_in, C_out / groups, kh, kw)" if transposed else "(C_out, C_in / groups, kh, kw)"
    if weight.ndim != 4:
        raise ValueError(f"{operation}: expected a weight of shape {layout}, got {tuple(weight.shape)}")
    if groups <= 0:
        raise ValueError(f"{operation}: groups must be positive, got {groups}")
    in_channels = weight.shape[0] if transposed else weight.shape[1] * groups
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    x, unbatched = _batched(input, operation, f"(N, {in_channels}, H, W)")
    _check_dtypes(operation, x, weight, bias)
    for name, count in (("in_channels", x.shape[1]), ("out_channels", out_channels)):
        if count % groups:
            raise ValueError(f"{operation}: {name} ({count}) must be divisible by groups ({groups})")
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{operation}: expected input (N, {in_channels}, H, W) to match the weight {tuple(weight.shape)} "
            f"of shape {layout} with groups={groups}, got {tuple(input.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{operation}: expected a bias of shape ({out_channels},), got {tuple(bias.shape)}")
    return x, unbatched


def _check_dtypes(operation: str, x: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    for name, other in (("weight", weight), ("bias", bias)):
        if other is not None and other.dtype != x.dtype:
            raise TypeError(
                f"{operation}: input type ({x.dtype}) and {name} type ({other.dtype}) should be the same"
            )
    if x.dtype.kind != "f":
        raise TypeError(f"{operation}: expected a floating-point input, got {x.dtype}")


def _batched(x: Tensor, operation: str, expected: str) -> tuple[Tensor, bool]:
    """Accept (N, C, H, W) and, as PyTorch, an unbatched (C, H, W)."""
    if x.ndim == 4:
        return x, False
    if x.ndim == 3:
        return x.unsqueeze(0), True
    raise ValueError(f"{operation}: expected input {expected} (or unbatched without N), got {tuple(x.shape)}")


# ------------------------------------------------------------------------------------------------------
# Non-zero padding modes (Conv2d's padding_mode): a gather of rows and columns


def _pad_positions(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """Which input position each padded position copies, along one dimension."""
    positions = np.arange(-before, size + after)
    if mode == "reflect":
        if before >= size or after >= size:
            raise ValueError(
                f"pad2d: reflect padding ({before}, {after}) must be smaller than the input size {size}"
            )
        positions = np.abs(positions)
        return np.where(positions >= size, 2 * (size - 1) - positions, positions)
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    if mode == "circular":
        if before > size or after > size:
            raise ValueError(f"pad2d: circular padding ({before}, {after}) can wrap at most once ({size})")
        return positions % size
    raise ValueError(f"pad2d: mode must be 'reflect', 'replicate' or 'circular', got {mode!r}")


class Pad2d(Function):
    """x[..., rows, cols] for index vectors that repeat edge positions; backward adds the copies back."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(rows, cols)
        ctx.shape = x.shape
        return x[..., rows[:, None], cols[None, :]]

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        rows, cols = ctx.saved_tensors
        height, width = ctx.shape[-2:]
        if not all_finite(grad):  # 0 * inf is NaN: the copies are added one by one instead
            dx = np.zeros(ctx.shape, grad.dtype)
            np.add.at(dx, (Ellipsis, rows[:, None], cols[None, :]), grad)  # type: ignore[arg-type]
            return dx, None, None
        # One-hot matrices turn the repeated copies into sums: dx = R^T @ grad @ C.
        row_matrix = (rows[:, None] == np.arange(height)).astype(grad.dtype)
        col_matrix = (cols[:, None] == np.arange(width)).astype(grad.dtype)
        return row_matrix.T @ grad @ col_matrix, None, None


def pad2d(x: Tensor, pad: tuple[int, int, int, int], mode: str) -> Tensor:
    """Pad the last two dimensions by (left, right, top, bottom) with 'reflect', 'replicate' or 'circular'."""
    left, right, top, bottom = pad
    rows = _pad_positions(x.shape[-2], top, bottom, mode)
    cols = _pad_positions(x.shape[-1], left, right, mode)
    return Pad2d.apply(x, rows, cols)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """``torch.nn.functional.pad``: with a constant, any dimensions (``ops.pad``); 'reflect', 'replicate' or
    'circular' (``pad2d``), the last dimension of a 2-D or 3-D input by ``(left, right)`` or the last two of a
    3-D or 4-D input by ``(left, right, top, bottom)``."""
    if mode == "constant":
        return ops.pad(input, pad, value=0.0 if value is None else value)
    if value:  # None or 0 pass, as in PyTorch
        raise ValueError(f"pad: mode {mode!r} takes no value (only mode='constant' does), got {value}")
    dims = {2: (2, 3), 4: (3, 4)}.get(len(pad))
    if dims is None or input.ndim not in dims:
        raise ValueError(
            f"pad: mode {mode!r} pads a 2-D or 3-D input by 2 widths or a 3-D or 4-D input by 4; got "
            f"{len(pad)} widths for an input of shape {tuple(input.shape)}"
        )
    if any(int(w) < 0 for w in pad):
        raise ValueError(f"pad: negative widths (cropping) are not supported, got {tuple(pad)}")
    left, right, top, bottom = (*(int(w) for w in pad), 0, 0)[:4]
    return pad2d(input, (left, right, top, bottom), mode)


# ------------------------------------------------------------------------------------------------------
# Convolution


class _ConvolutionFunction(Function):
    """What a convolution and a transposed one share: which arrays to save, and the bias gradient."""

    @staticmethod
    def save(ctx: Context, x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> None:
        x_needs, w_needs = ctx.needs_input_grad[:2]
        if x_needs or w_needs:  # x is needed for the weight's gradient, the weight for x's
            ctx.save_for_backward(x if w_needs else None, weight if x_needs else None)
        ctx.geometry, ctx.groups, ctx.weight_shape = geometry, groups, weight.shape

    @staticmethod
    def bias_gradient(ctx: Context, grad: np.ndarray) -> np.ndarray | None:
        return grad.sum(axis=(0, 2, 3)) if ctx.needs_input_grad[2] else None


class Conv2d(_ConvolutionFunction):
    """y = conv(x, W) + b for x (N, C, H, W), W (O, C / groups, kh, kw), b (O,)."""

    @staticmethod
    def composite(
        x: Tensor, weight: Tensor, bias: Tensor | None, geometry: ConvGeometry, groups: int
    ) -> Tensor:
        """The same convolution from Ember operations (gradients of gradients, ``ember.autograd.backprop``):
        one strided slice of the padded input per kernel tap, stacked, times the weight as a matrix."""
        top, bottom, left, right = geometry.padding
        padded = ops.pad(x, (left, right, top, bottom)) if any(geometry.padding) else x
        (kh, kw), (sh, sw), (dh, dw) = geometry.kernel, geometry.stride, geometry.dilation
        rows, cols = geometry.out_height, geometry.out_width
        taps = [
            padded[
                :, :, i * dh : i * dh + sh * (rows - 1) + 1 : sh, j * dw : j * dw + sw * (cols - 1) + 1 : sw
            ]
            for i in range(kh)
            for j in range(kw)
        ]
        batch, channels, outputs = x.shape[0], x.shape[1], weight.shape[0]
        columns = ops.stack(taps, 2).reshape(batch, groups, channels // groups * kh * kw, rows * cols)
        out = weight.reshape(groups, outputs // groups, -1) @ columns
        out = out.reshape(batch, outputs, rows, cols)
        return out if bias is None else out + bias.reshape(1, outputs, 1, 1)

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray | None,
        geometry: ConvGeometry,
        groups: int,
    ) -> np.ndarray:
        Conv2d.save(ctx, x, weight, geometry, groups)
        kernels = backend(x.dtype, geometry)
        if kernels is not _onednn or not ctx.needs_input_grad[1]:
            return kernels.forward(x, weight, bias, geometry, groups)
        ctx.blocked = {}  # oneDNN's blocked copy of x, kept for the weight gradient (freed with the node)
        return _onednn.forward(x, weight, bias, geometry, groups, keep=ctx.blocked)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, ...]:
        grad_x = grad_w = None
        if any(ctx.needs_input_grad[:2]):
            x, weight = ctx.saved_tensors
            kernels = backend(grad.dtype, ctx.geometry)
            options = {"kept": ctx.blocked} if kernels is _onednn and hasattr(ctx, "blocked") else {}
            grad_x, grad_w = kernels.backward(
                x, weight, grad, ctx.geometry, ctx.groups, ctx.weight_shape, **options
            )
        return grad_x, grad_w, Conv2d.bias_gradient(ctx, grad), None, None


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: str | IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-d convolution over an input of shape (N, C_in, H, W) (or unbatched (C_in, H, W)), as PyTorch's."""
    operation = "conv2d"
    x, unbatched = _checked_operands(operation, input, weight, bias, groups, transposed=False)
    kh, kw = weight.shape[2:]
    stride_ = pair(stride, "stride", operation)
    dilation_ = pair(dilation, "dilation", operation)
    pads = resolve_padding(padding, (kh, kw), stride_, dilation_, operation)
    geo = conv_geometry(operation, tuple(x.shape), (kh, kw), stride_, dilation_, pads)
    out = Conv2d.apply(x, weight, bias, geo, groups)
    return out.squeeze(0) if unbatched else out


# ------------------------------------------------------------------------------------------------------
# Transposed convolution


class ConvTranspose2d(_ConvolutionFunction):
    """A convolution's gradient with respect to its input, as a layer: (N, C_in, H, W) -> (N, C_out, ...).

    W has shape (C_in, C_out / groups, kh, kw); ``geometry`` is that of the convolution it inverts (whose
    input is this layer's output and whose output is this layer's input).
    """

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray | None,
        geometry: ConvGeometry,
        groups: int,
    ) -> np.ndarray:
        ConvTranspose2d.save(ctx, x, weight, geometry, groups)
        out = backend(x.dtype, geometry).input_gradient(weight, x, geometry, groups)
        if bias is not None:
            out += bias.reshape(-1, 1, 1)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, ...]:
        grad_x = grad_w = None
        if any(ctx.needs_input_grad[:2]):
            x, weight = ctx.saved_tensors
            kernels = backend(grad.dtype, ctx.geometry)
            if weight is not None:
                grad_x = kernels.forward(grad, weight, None, ctx.geometry, ctx.groups)
            if x is not None:
                grad_w = kernels.weight_gradient(grad, x, ctx.weight_shape, ctx.geometry, ctx.groups)
        return grad_x, grad_w, ConvTranspose2d.bias_gradient(ctx, grad), None, None


def transposed_output_size(
    size: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    output_padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int]:
    """(H - 1) S - 2 P + D (F - 1) + output_padding + 1 per side (the inverse of the conv formula)."""
    height, width = (
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, k, s, p, op, d in zip(size, kernel, stride, padding, output_padding, dilation, strict=True)
    )
    return height, width


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    groups: int = 1,
    dilation: IntPair = 1,
) -> Tensor:
    """Transposed 2-d convolution of (N, C_in, H, W) (or unbatched), as PyTorch's; mind the argument order."""
    operation = "conv_transpose2d"
    x, unbatched = _checked_operands(operation, input, weight, bias, groups, transposed=True)
    kh, kw = weight.shape[2:]
    kernel = (kh, kw)
    stride_, dilation_ = pair(stride, "stride", operation), pair(dilation, "dilation", operation)
    padding_ = pair(padding, "padding", operation)
    extra = pair(output_padding, "output_padding", operation)
    _check_positive(operation, kernel_size=kernel, stride=stride_, dilation=dilation_)
    if min(padding_) < 0 or min(extra) < 0:
        raise ValueError(f"{operation}: padding and output_padding must be non-negative")
    for op, s, d in zip(extra, stride_, dilation_, strict=True):
        if op >= max(s, d):
            raise ValueError(
                f"{operation}: output_padding {extra} must be smaller than either stride {stride_} or "
                f"dilation {dilation_}"
            )
    size = transposed_output_size(tuple(x.shape[2:]), kernel, stride_, padding_, extra, dilation_)
    if min(size) <= 0:
        raise ValueError(
            f"{operation}: the output would be empty: input {tuple(x.shape[2:])} with kernel {kernel}, "
            f"stride {stride_}, padding {padding_}, dilation {dilation_} gives {size}"
        )
    pads = (padding_[0], padding_[0], padding_[1], padding_[1])
    geo = geometry(x.shape[0], size[0], size[1], kernel, stride_, dilation_, pads, tuple(x.shape[2:]))
    out = ConvTranspose2d.apply(x, weight, bias, geo, groups)
    return out.squeeze(0) if unbatched else out
