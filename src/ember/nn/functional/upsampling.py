"""Resizing by interpolation as one differentiable operation: ``interpolate`` (the layers: ``nn.Upsample``).

Along each axis, bilinear or nearest resizing is a fixed linear map ``R`` (out x in), so an image is resized
by two matrix products, ``Y = R_h X R_w^T``, and the gradient is the transposed map, ``dX = R_h^T dY R_w``.
The maps follow PyTorch: with ``align_corners=False`` an output pixel ``i`` samples the input at
``(i + 0.5) * scale - 0.5`` (half-pixel centres, clamped at 0; no antialiasing), with ``align_corners=True``
at ``i * (in - 1) / (out - 1)``; 'nearest' takes ``floor(i * scale)``. ``scale`` is ``in / out``, or
``1 / scale_factor`` when a scale factor is given (PyTorch's rule when ``recompute_scale_factor`` is unset).
This is the "in-network upsampling" of the segmentation lecture without learned weights (FCN's bilinear
initialization, Long et al. 2015).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor

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


def resize_matrix(
    size: int, out: int, mode: str, align_corners: bool, scale: float | None = None
) -> np.ndarray:
    """The (out, size) float64 matrix that resizes one axis of ``size`` samples to ``out``."""
    low, high, weight = sample_points(size, out, mode, align_corners, scale)
    matrix = np.zeros((out, size), dtype=np.float64)
    rows = np.arange(out)
    np.add.at(matrix, (rows, low), 1.0 - weight)
    np.add.at(matrix, (rows, high), weight)
    return matrix


def resize(
    array: np.ndarray, size: tuple[int, int], mode: str = "bilinear", align_corners: bool = False
) -> np.ndarray:
    """``array`` (..., H, W) resized to ``size`` = (out_h, out_w) in float64, by gathers and elementwise
    arithmetic only (no matrix product): the same bits on every machine, for data that must never drift."""
    low, high, weight = sample_points(array.shape[-2], size[0], mode, align_corners)
    x = np.asarray(array, dtype=np.float64)
    x = x[..., low, :] * (1.0 - weight)[:, None] + x[..., high, :] * weight[:, None]
    low, high, weight = sample_points(array.shape[-1], size[1], mode, align_corners)
    return x[..., low] * (1.0 - weight) + x[..., high] * weight


class Interpolate(Function):
    """Y = R_h X R_w^T on the last two axes; backward dX = R_h^T dY R_w."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        rows, cols = rows.astype(x.dtype), cols.astype(x.dtype)
        ctx.values = (rows, cols)
        return rows @ x @ cols.T

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        rows, cols = ctx.values
        return rows.T @ grad @ cols, None, None


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
    rows = resize_matrix(height, out[0], mode, corners, scales[0])
    cols = resize_matrix(width, out[1], mode, corners, scales[1])
    return Interpolate.apply(input, rows, cols)
