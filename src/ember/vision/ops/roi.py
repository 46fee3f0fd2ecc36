"""Region-of-interest pooling: ``roi_pool`` (Fast R-CNN, Girshick 2015) and ``roi_align`` (Mask R-CNN, He et
al. 2017), torchvision's ``torchvision.ops`` names, arguments and the semantics of its C++ kernels.

A RoI is a row (batch index, x1, y1, x2, y2) in image coordinates; ``spatial_scale`` maps it onto the
feature map (1/stride). Each RoI is cut into ``output_size`` = (pooled_h, pooled_w) bins.

``roi_pool`` rounds the scaled corners to integers (half away from zero), takes a RoI of
``x2 - x1 + 1`` by ``y2 - y1 + 1`` cells (at least 1), bin ``(ph, pw)`` covering rows
``floor(ph * bin_h) .. ceil((ph + 1) * bin_h)`` (clipped to the map) and likewise columns, and returns each
bin's maximum (0 for an empty bin). Backward sends the gradient to the first maximal cell, row-major (the
argmax), as the kernel does.

``roi_align`` does not round: with ``aligned=True`` the corners are shifted by half a cell (pixel centres),
with ``aligned=False`` a RoI is at least 1 x 1. A bin averages ``grid_h x grid_w`` bilinear samples at the
centres of a regular sub-grid, ``grid = sampling_ratio`` or, when ``sampling_ratio <= 0``, the adaptive
``ceil(roi_h / pooled_h)`` (``ceil(roi_w / pooled_w)``). A sample at (y, x) outside ``[-1, H] x [-1, W]``
reads 0; otherwise y (x) is clamped at 0 from below and a coordinate at or past the last cell reads that
cell. Each sample's weight is a product of a y factor and an x factor, so for one RoI the whole operation
is a fixed linear map ``out[c] = A_y X[c] A_x^T`` with ``A_y`` (pooled_h x H) and ``A_x`` (pooled_w x W),
the averaged interpolation weights: forward is two matrix products per RoI (batched), backward the
transposed pair, ``dX[c] += A_y^T dOut[c] A_x``, as in ``ember.nn.functional.interpolate``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor
from ember.nn.module import Module
from ember.vision.ops.boxes import BoxShapeError

FLT_LOWEST = float(np.finfo(np.float32).min)  # the kernels' -FLT_MAX: a bin's starting maximum


def _pair(value: Any, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2 or any(int(v) < 1 for v in pair):
        raise ValueError(f"{name}: output_size is one positive int or (height, width), got {value!r}")
    return int(pair[0]), int(pair[1])


def _array(value: Any) -> np.ndarray:
    return value.array if isinstance(value, Tensor) else np.asarray(value)


def convert_boxes_to_roi_format(boxes: Any, name: str = "roi_align") -> np.ndarray:
    """The (K, 5) rows (batch index, x1, y1, x2, y2) of a (K, 5) tensor or of a list of (K_i, 4) tensors,
    one per image (torchvision's ``check_roi_boxes_shape`` and ``convert_boxes_to_roi_format``)."""
    if isinstance(boxes, list | tuple):
        parts = [_array(b) for b in boxes]
        for index, part in enumerate(parts):
            if part.ndim != 2 or part.shape[1] != 4:
                raise BoxShapeError(
                    f"{name}: boxes[{index}] must be (K, 4) (x1, y1, x2, y2), got shape {part.shape}"
                )
        dtype = np.result_type(*parts) if parts else np.float32
        rows = [
            np.concatenate([np.full((len(part), 1), index, dtype=dtype), part.astype(dtype)], axis=1)
            for index, part in enumerate(parts)
        ]
        return np.concatenate(rows) if rows else np.zeros((0, 5), dtype=dtype)
    rois = _array(boxes)
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise BoxShapeError(
            f"{name}: boxes must be a Tensor (K, 5) of (batch index, x1, y1, x2, y2) or a list of (K_i, 4) "
            f"tensors, one per image; got shape {rois.shape}"
        )
    return rois


def _rois(input: Tensor, boxes: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Batch indices (int64) and corners (K, 4, in the input's dtype), checked against ``input``."""
    if input.ndim != 4:
        raise ValueError(f"{name}: expected (N, C, H, W) features, got shape {tuple(input.shape)}")
    rois = convert_boxes_to_roi_format(boxes, name)
    batch = rois[:, 0].astype(np.int64)  # the kernels' (int) cast: truncation
    if len(batch) and (batch.min() < 0 or batch.max() >= input.shape[0]):
        raise BoxShapeError(
            f"{name}: RoI batch indices must lie in [0, {input.shape[0]}) for {input.shape[0]} images, "
            f"got {batch.min()}..{batch.max()}"
        )
    return batch, rois[:, 1:].astype(input.dtype)


def _by_image(batch: np.ndarray) -> list[tuple[int, np.ndarray]]:
    return [(int(n), np.flatnonzero(batch == n)) for n in np.unique(batch)]


def align_weights(
    start: np.ndarray, bin_size: np.ndarray, grid: np.ndarray, pooled: int, size: int
) -> np.ndarray:
    """(K, pooled, size) averaged bilinear weights along one axis: for RoI k, bin p, the mean over its
    ``grid[k]`` samples of the interpolation weights onto the ``size`` cells (the kernel's boundary rules)."""
    dtype = start.dtype
    count = len(start)
    steps = max(int(grid.max(initial=0)), 0)
    sub = np.arange(steps, dtype=dtype) + dtype.type(0.5)
    divisor = np.maximum(grid, 1).astype(dtype)
    # the kernel's order: (start + p * bin) + (i + .5) * bin / grid, in the input's precision
    corner = start[:, None, None] + np.arange(pooled, dtype=dtype)[None, :, None] * bin_size[:, None, None]
    coords = corner + sub[None, None, :] * bin_size[:, None, None] / divisor[:, None, None]
    valid = (coords >= -1) & (coords <= size) & (np.arange(steps)[None, None, :] < grid[:, None, None])
    coords = np.maximum(coords, 0)
    low = coords.astype(np.int64)  # truncation, coords >= 0
    last = low >= size - 1
    low = np.where(last, size - 1, low)
    high = np.where(last, size - 1, low + 1)
    frac = np.where(last, 0, coords - low).astype(dtype)
    scale = valid / divisor[:, None, None]
    rows = (np.arange(count)[:, None, None] * pooled + np.arange(pooled)[None, :, None]) * size
    index = np.concatenate([(rows + low).ravel(), (rows + high).ravel()])
    weight = np.concatenate([((1 - frac) * scale).ravel(), (frac * scale).ravel()])
    matrix = np.bincount(index, weights=weight, minlength=count * pooled * size)
    return matrix.reshape(count, pooled, size).astype(dtype)


class RoIAlignFunction(Function):
    """out[k, c] = A_y[k] X[b_k, c] A_x[k]^T; backward dX[b_k, c] += A_y[k]^T dOut[k, c] A_x[k]."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, batch: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> Any:
        channels, height, width = x.shape[1:]
        out = np.zeros((len(batch), channels, rows.shape[1], cols.shape[1]), dtype=x.dtype)
        for n, members in _by_image(batch):  # one pair of batched products per image
            a_y, a_x = rows[members], cols[members]
            pooled_h = a_y.shape[1]
            # (K * ph, H) @ (H, C * W): every RoI's rows at once, then each RoI's columns
            left = a_y.reshape(-1, height) @ x[n].transpose(1, 0, 2).reshape(height, -1)
            left = left.reshape(len(members), pooled_h * channels, width)
            both = left @ a_x.transpose(0, 2, 1)  # (K, ph * C, pw)
            out[members] = both.reshape(len(members), pooled_h, channels, -1).transpose(0, 2, 1, 3)
        ctx.shape = x.shape
        ctx.values = (batch, rows, cols)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        batch, rows, cols = ctx.values
        _, channels, height, width = ctx.shape
        grad_x = np.zeros(ctx.shape, dtype=grad.dtype)
        for n, members in _by_image(batch):
            a_y, a_x = rows[members], cols[members]
            right = grad[members] @ a_x[:, None]  # (K, C, ph, W)
            stacked = right.transpose(0, 2, 1, 3).reshape(-1, channels * width)  # (K * ph, C * W)
            summed = a_y.reshape(-1, height).T @ stacked  # (H, C * W), summed over RoIs and bins
            grad_x[n] = summed.reshape(height, channels, width).transpose(1, 0, 2)
        return grad_x, None, None, None


def roi_align(
    input: Tensor,
    boxes: Any,
    output_size: int | Sequence[int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """RoI Align (Mask R-CNN): (K, C, pooled_h, pooled_w) bilinear averages over each RoI's bins, no
    rounding; ``boxes`` a (K, 5) tensor (batch index, x1, y1, x2, y2) or a list of (K_i, 4), one per image."""
    pooled_h, pooled_w = _pair(output_size, "roi_align")
    batch, corners = _rois(input, boxes, "roi_align")
    dtype = corners.dtype
    offset = dtype.type(0.5 if aligned else 0.0)
    scaled = corners * dtype.type(spatial_scale) - offset
    start_w, start_h, end_w, end_h = scaled.T
    roi_w, roi_h = end_w - start_w, end_h - start_h
    if not aligned:  # malformed RoIs forced to 1 x 1
        roi_w, roi_h = np.maximum(roi_w, 1).astype(dtype), np.maximum(roi_h, 1).astype(dtype)
    bin_h, bin_w = roi_h / dtype.type(pooled_h), roi_w / dtype.type(pooled_w)
    if sampling_ratio > 0:
        grid_h = grid_w = np.full(len(batch), sampling_ratio, dtype=np.int64)
    else:
        grid_h, grid_w = np.ceil(bin_h).astype(np.int64), np.ceil(bin_w).astype(np.int64)
    rows = align_weights(start_h, bin_h, grid_h, pooled_h, input.shape[2])
    cols = align_weights(start_w, bin_w, grid_w, pooled_w, input.shape[3])
    return RoIAlignFunction.apply(input, batch, rows, cols)


def _round_half_away(values: np.ndarray) -> np.ndarray:
    return (np.sign(values) * np.floor(np.abs(values) + 0.5)).astype(np.int64)


def pool_bins(
    start: np.ndarray, extent: np.ndarray, pooled: int, size: int, dtype: np.dtype
) -> tuple[np.ndarray, ...]:
    """(K, pooled) first and end cells of roi_pool's bins along one axis, clipped to [0, size] (the bin
    size in the input's precision, as the kernel computes it)."""
    bin_size = extent.astype(dtype) / dtype.type(pooled)
    steps = np.arange(pooled + 1, dtype=dtype)[None, :] * bin_size[:, None]
    first = np.floor(steps[:, :-1]).astype(np.int64) + start[:, None]
    end = np.ceil(steps[:, 1:]).astype(np.int64) + start[:, None]
    return np.clip(first, 0, size), np.clip(end, 0, size)


class RoIPoolFunction(Function):
    """Max over each bin; backward routes each bin's gradient to its argmax cell (none for an empty bin)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, batch: np.ndarray, bins: tuple[np.ndarray, ...]) -> Any:
        row_first, row_end, col_first, col_end = bins
        images, channels, height, width = x.shape
        tall = max(int((row_end - row_first).max(initial=1)), 1)
        wide = max(int((col_end - col_first).max(initial=1)), 1)
        rows = row_first[:, :, None] + np.arange(tall)  # (K, ph, tall)
        cols = col_first[:, :, None] + np.arange(wide)
        inside = (rows < row_end[:, :, None])[:, :, None, :, None] & (cols < col_end[:, :, None])[
            :, None, :, None, :
        ]  # (K, ph, pw, tall, wide)
        count, pooled, window = len(batch), inside.shape[1:3], tall * wide
        per_roi = pooled[0] * pooled[1]
        cells = rows[:, :, None, :, None] * width + cols[:, None, :, None, :]
        cells = np.where(inside, cells, height * width).reshape(count * per_roi, window)  # outside: padding
        inside = inside.reshape(count * per_roi, window)
        image = np.repeat(batch, per_roi)  # the image of each bin
        # the map as rows of channels (and a padding row of -inf), so that each gather copies C values
        table = np.full((images, height * width + 1, channels), -np.inf, dtype=x.dtype)
        table[:, :-1] = x.reshape(images, channels, height * width).transpose(0, 2, 1)
        best = table[image, cells[:, 0]]  # (K * bins, C)
        chosen = np.repeat(cells[:, :1], channels, axis=1)
        for offset in range(1, window):  # each cell of the windows in turn, row-major
            values = table[image, cells[:, offset]]
            better = values > best  # strict: the first maximum stays, as in the kernel
            np.copyto(best, values, where=better)
            np.copyto(chosen, cells[:, offset, None], where=better)
        found = best > FLT_LOWEST
        empty = ~np.any(inside, axis=1)[:, None]
        kind = x.dtype.type
        out = np.where(found, best, np.where(empty, kind(0), kind(FLT_LOWEST)))
        plane = image[:, None] * channels + np.arange(channels)
        ctx.argmax = np.where(found, plane * (height * width) + chosen, -1)  # (K * bins, C)
        ctx.shape = x.shape
        return out.reshape(count, per_roi, channels).transpose(0, 2, 1).reshape(count, channels, *pooled)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        total = int(np.prod(ctx.shape))
        target = np.where(ctx.argmax >= 0, ctx.argmax, total).ravel()  # no maximum: a spare bin
        weights = grad.reshape(len(grad), grad.shape[1], -1).transpose(0, 2, 1).ravel()  # as argmax's
        summed = np.bincount(target, weights=weights, minlength=total + 1)[:total]
        return summed.reshape(ctx.shape).astype(grad.dtype), None, None


def roi_pool(
    input: Tensor, boxes: Any, output_size: int | Sequence[int], spatial_scale: float = 1.0
) -> Tensor:
    """RoI max pooling (Fast R-CNN): (K, C, pooled_h, pooled_w), each bin's maximum over the RoI's cells
    after rounding its scaled corners; ``boxes`` as ``roi_align``'s."""
    pooled_h, pooled_w = _pair(output_size, "roi_pool")
    batch, corners = _rois(input, boxes, "roi_pool")
    start_w, start_h, end_w, end_h = _round_half_away(corners * corners.dtype.type(spatial_scale)).T
    width, height = np.maximum(end_w - start_w + 1, 1), np.maximum(end_h - start_h + 1, 1)
    rows = pool_bins(start_h, height, pooled_h, input.shape[2], corners.dtype)
    cols = pool_bins(start_w, width, pooled_w, input.shape[3], corners.dtype)
    return RoIPoolFunction.apply(input, batch, (*rows, *cols))


class RoIAlign(Module):
    """``roi_align`` as a layer: ``RoIAlign(output_size, spatial_scale, sampling_ratio, aligned=False)``."""

    def __init__(
        self,
        output_size: int | Sequence[int],
        spatial_scale: float,
        sampling_ratio: int,
        aligned: bool = False,
    ) -> None:
        super().__init__()
        self.output_size, self.spatial_scale = output_size, spatial_scale
        self.sampling_ratio, self.aligned = sampling_ratio, aligned

    def forward(self, input: Tensor, rois: Any) -> Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}"
        )


class RoIPool(Module):
    """``roi_pool`` as a layer: ``RoIPool(output_size, spatial_scale)``."""

    def __init__(self, output_size: int | Sequence[int], spatial_scale: float) -> None:
        super().__init__()
        self.output_size, self.spatial_scale = output_size, spatial_scale

    def forward(self, input: Tensor, rois: Any) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"
