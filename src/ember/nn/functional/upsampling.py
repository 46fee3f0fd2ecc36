"""Resizing by interpolation as one differentiable operation: ``interpolate`` (the layers: ``nn.Upsample``).

Along each axis every output reads at most two inputs (``sample_points``): ``y = (1 - w) x[low] + w x[high]``
for 'bilinear', ``y = x[low]`` for 'nearest'; an image is resized along its rows, then its columns, and the
gradient goes back to the inputs each output read, with the same weights. The points follow PyTorch: with
``align_corners=False`` an output pixel ``i`` samples the input at ``(i + 0.5) * scale - 0.5`` (half-pixel
centres, clamped at 0; no antialiasing), with ``align_corners=True`` at ``i * (in - 1) / (out - 1)``;
'nearest' takes ``floor(i * scale)``. ``scale`` is ``in / out``, or ``1 / scale_factor`` when a scale factor
is given (PyTorch's rule when ``recompute_scale_factor`` is unset). Where every value is finite, each axis's
resize is a product with its (out x in) resize matrix ``R`` (``Y = R_h X R_w^T``, ``dX = R_h^T dY R_w``: fast
GEMMs); where any is inf or NaN, gathers and sums, so that it reaches only the outputs that read it, as in
PyTorch (0 * inf is NaN: a matrix would spread it along its whole row). This is the "in-network
upsampling" of the segmentation lecture without learned weights (FCN's bilinear initialization, Long et al.
2015).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor
from ember.ops.elementwise import all_finite

MODES = ("nearest", "bilinear")


@lru_cache(maxsize=256)
def sample_points(
    size: int, out: int, mode: str, align_corners: bool, scale: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``out`` outputs along an axis of ``size`` inputs: the two inputs it reads (``low``,
    ``high``) and the weight of ``high`` (float64; 'nearest' reads ``low`` only, weight 0). Cached: the
    arrays are shared, never to be written."""
    rows = np.arange(out)
    step = size / out if scale is None else scale
    if mode == "nearest":
        low = np.minimum(np.floor(rows * step).astype(np.int64), size - 1)
        return low, low, np.zeros(out)
    if align_corners:
        source = rows * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        source = np.maximum((rows + 0.5) * step - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.int64), size - 1)
    return low, np.minimum(low + 1, size - 1), source - low


def resample(x: np.ndarray, points: tuple[np.ndarray, np.ndarray, np.ndarray], axis: int) -> np.ndarray:
    """``x`` resized along ``axis`` at ``points`` (``sample_points``), in ``x``'s dtype."""
    low, high, weight = points
    if not weight.any():  # 'nearest' (or points that fall on inputs): a gather, no arithmetic
        return np.take(x, low, axis)
    weight = _along(weight, x, axis)
    with np.errstate(invalid="ignore"):  # a zero weight times inf is NaN, silently (as in PyTorch)
        return np.take(x, low, axis) * (1 - weight) + np.take(x, high, axis) * weight


def unsample(
    grad: np.ndarray, points: tuple[np.ndarray, np.ndarray, np.ndarray], size: int, axis: int
) -> np.ndarray:
    """The adjoint of ``resample``: each output's gradient added to the inputs it read, with its weights."""
    low, high, weight = points
    if not weight.any():
        return _sum_into(grad, low, size, axis)
    weight = _along(weight, grad, axis)
    with np.errstate(invalid="ignore"):
        return _sum_into(grad * (1 - weight), low, size, axis) + _sum_into(grad * weight, high, size, axis)


def _along(weight: np.ndarray, like: np.ndarray, axis: int) -> np.ndarray:
    """``weight`` in ``like``'s dtype, shaped to broadcast along ``like``'s ``axis``."""
    shape = [1] * like.ndim
    shape[axis] = len(weight)
    return weight.astype(like.dtype).reshape(shape)


def _sum_into(values: np.ndarray, index: np.ndarray, size: int, axis: int) -> np.ndarray:
    """An array with ``size`` entries along ``axis`` whose entry ``j`` sums the ``values`` whose ``index`` is
    ``j`` (``index`` non-decreasing, as sample points are: one ``reduceat`` over its runs)."""
    targets, first = np.unique(index, return_index=True)
    out_shape = list(values.shape)
    out_shape[axis] = size
    out = np.zeros(out_shape, values.dtype)
    place: list[Any] = [slice(None)] * values.ndim
    place[axis] = targets
    out[tuple(place)] = np.add.reduceat(values, first, axis=axis)
    return out


def resize(
    array: np.ndarray, size: tuple[int, int], mode: str = "bilinear", align_corners: bool = False
) -> np.ndarray:
    """``array`` (..., H, W) resized to ``size`` = (out_h, out_w) in float64, by gathers and elementwise
    arithmetic only (no matrix product): the same bits on every machine, for data that must never drift."""
    x = np.asarray(array, dtype=np.float64)
    x = resample(x, sample_points(x.shape[-2], size[0], mode, align_corners), -2)
    return resample(x, sample_points(x.shape[-1], size[1], mode, align_corners), -1)


@lru_cache(maxsize=256)
def resize_matrix(
    size: int, out: int, mode: str, align_corners: bool, scale: float | None = None
) -> np.ndarray:
    """The (out, size) float64 matrix that resizes one axis of ``size`` samples to ``out``. Cached: shared,
    never to be written."""
    low, high, weight = sample_points(size, out, mode, align_corners, scale)
    matrix = np.zeros((out, size), dtype=np.float64)
    rows = np.arange(out)
    np.add.at(matrix, (rows, low), 1.0 - weight)
    np.add.at(matrix, (rows, high), weight)
    return matrix


Axis = tuple[int, int, str, bool, float | None]  # sample_points's arguments for one axis


class Interpolate(Function):
    """Resize the last two axes (rows, then columns); the backward sends each output's gradient back to the
    inputs it read. Resize matrices where all values are finite, gathers where not (module docstring)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, rows: Axis, cols: Axis) -> np.ndarray:
        ctx.axes = (rows, cols)
        if all_finite(x):
            return resize_matrix(*rows).astype(x.dtype) @ x @ resize_matrix(*cols).astype(x.dtype).T
        return resample(resample(x, sample_points(*rows), -2), sample_points(*cols), -1)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        rows, cols = ctx.axes
        if all_finite(grad):
            return (
                resize_matrix(*rows).astype(grad.dtype).T @ grad @ resize_matrix(*cols).astype(grad.dtype),
                None,
                None,
            )
        by_column = unsample(grad, sample_points(*cols), cols[0], -1)
        return unsample(by_column, sample_points(*rows), rows[0], -2), None, None


def _pair(value: Any, name: str) -> tuple[Any, Any]:
    if isinstance(value, Sequence):
        if len(value) != 2:
            raise ValueError(
                f"interpolate: {name} takes one value or two (height, width), got {tuple(value)}"
            )
        return value[0], value[1]
    return value, value


def interpolate(
    input: Tensor,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
) -> Tensor:
    """Resize (N, C, H, W) images to ``size`` or by ``scale_factor`` ('nearest' or 'bilinear'),
    ``torch.nn.functional.interpolate``'s semantics."""
    if mode not in MODES:
        raise ValueError(f"interpolate: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if input.ndim != 4:
        raise ValueError(f"interpolate: expected (N, C, H, W) images, got shape {tuple(input.shape)}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners only goes with mode='bilinear'")
    height, width = input.shape[-2:]
    if size is not None:
        out = tuple(int(s) for s in _pair(size, "size"))
        scales: tuple[float | None, float | None] = (None, None)
    else:
        factors = tuple(float(f) for f in _pair(scale_factor, "scale_factor"))
        out = (math.floor(height * factors[0]), math.floor(width * factors[1]))
        scales = (1.0 / factors[0], 1.0 / factors[1])
    if min(out) < 1:
        raise ValueError(f"interpolate: the output size {out} must be positive")
    corners = bool(align_corners)
    return Interpolate.apply(
        input, (height, out[0], mode, corners, scales[0]), (width, out[1], mode, corners, scales[1])
    )
