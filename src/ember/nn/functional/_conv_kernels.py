"""Convolution on NumPy arrays as large matrix multiplies: im2col as one strided view of a channel-major grid.

The course's (and cs231n's) im2col: stretch every receptive field into a column, so that the convolution
becomes one GEMM, W (C_out, C_in kh kw) @ cols (C_in kh kw, positions). Where a NumPy convolution loses its
time is not the GEMM but the copies around it (``docs/performance.md``): building cols with a Python loop
of slices, and scattering the gradient back (col2im). Ember avoids most of both with one layout:

- The input is copied once into a *grid*: channel-major (C, ...), each sample's rows laid end to end with
  a gap of zeros between rows and between samples that is as wide as the padding. Padding is then free
  (the gaps are the padding), and every tap (i, j) of the kernel reads the grid at a constant offset
  ``i * dilation * row + j * dilation`` from the output position.
- So im2col is a single ``as_strided`` view of the grid, (C, kh, kw, positions), copied chunk by chunk into
  a cache-sized buffer in one NumPy call each. For stride 1 the positions are a contiguous run of the grid
  ("flat": the few outputs computed in the gaps are discarded), so the copy streams like ``memcpy``;
  otherwise they are the exact strided output positions.
- The gradient with respect to the input of a stride-1 convolution is itself a convolution (a transposed
  one, Dumoulin and Visin 2016): the upstream gradient, written into a grid of the same geometry, is read
  with the taps mirrored, and one GEMM per chunk gives the input gradient. No scatter-add at all. Strided
  convolutions scatter the column gradients back tap by tap (col2im) into a zeroed grid.
- Chunks keep the column buffer in cache, and the buffers are reused between calls (``_workspace``).

Groups are a batch of independent GEMMs (``np.matmul`` over a leading group axis): channels are grouped
contiguously in the channel-major layout, so no copy is needed to split them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ember.nn.functional import _workspace

# Bytes of one column chunk: small enough to stay in the 1 MiB L2 / shared L3 while the GEMM reads it,
# large enough that the per-chunk Python overhead stays small (measured in docs/performance.md).
CHUNK_BYTES = 1 << 21
# Computing on the flat grid wastes the outputs that fall in the gaps; above this ratio of grid positions
# to real outputs the exact strided positions are cheaper.
FLAT_WASTE_LIMIT = 1.4


@dataclass(frozen=True)
class ConvGeometry:
    """Sizes and grid layout of one 2-d convolution (or of the convolution a transposed one inverts)."""

    batch: int
    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]  # top, bottom, left, right
    out_height: int
    out_width: int
    gap_h: int
    gap_w: int
    row: int  # grid row length: width + gap_w
    plane: int  # grid positions per sample: (height + gap_h) * row
    length: int  # grid positions of the whole batch
    lead: int  # grid offset of input (0, 0) of sample 0
    first_tap: int  # grid offset of tap (0, 0) for output position 0
    flat_forward: bool  # enumerate the flat grid (stride 1, little waste) or the exact output positions

    @property
    def taps(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def tap_span(self) -> int:
        """Grid offset of the last tap relative to the first."""
        (kh, kw), (dh, dw) = self.kernel, self.dilation
        return (kh - 1) * dh * self.row + (kw - 1) * dw

    @property
    def grid_size(self) -> int:
        """Length of an input grid: every read of every enumerated position stays inside."""
        return max(self.lead + self.length, self.first_tap + self.length + self.tap_span)


@functools.lru_cache(maxsize=256)
def geometry(
    batch: int,
    height: int,
    width: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int, int, int],
    output_size: tuple[int, int] | None = None,
) -> ConvGeometry:
    """The grid layout for an input of (batch, ., height, width); sizes are assumed valid (checked before).

    ``output_size`` keeps only the first outputs of each side (a transposed convolution with
    ``output_padding`` inverts a convolution whose extra outputs have no gradient).
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, bottom, left, right = padding
    out_height = (height + top + bottom - dh * (kh - 1) - 1) // sh + 1
    out_width = (width + left + right - dw * (kw - 1) - 1) // sw + 1
    if output_size is not None:
        out_height, out_width = min(out_height, output_size[0]), min(out_width, output_size[1])
    # The gaps are the padding; they must also leave room for every output of a row (padding wider than
    # the kernel gives outputs beyond the input's width).
    gap_h = max(top, bottom, out_height - height, 0)
    gap_w = max(left, right, out_width - width, 0)
    row = width + gap_w
    plane = (height + gap_h) * row
    lead = gap_h * row + gap_w
    flat = sh == sw == 1 and plane <= FLAT_WASTE_LIMIT * out_height * out_width
    return ConvGeometry(
        batch,
        height,
        width,
        kernel,
        stride,
        dilation,
        padding,
        out_height,
        out_width,
        gap_h,
        gap_w,
        row,
        plane,
        batch * plane,
        lead,
        lead - top * row - left,
        flat,
    )


# ------------------------------------------------------------------------------------------------------
# Grids and views


def _grid_body(grid: np.ndarray, geo: ConvGeometry, offset: int, rows: int, cols: int) -> np.ndarray:
    """The (C, N, rows, cols) positions of a grid that hold values, as a view."""
    body = grid[:, offset : offset + geo.length]
    return body.reshape(grid.shape[0], geo.batch, geo.height + geo.gap_h, geo.row)[:, :, :rows, :cols]


def input_grid(x: np.ndarray, geo: ConvGeometry, role: str = "input") -> np.ndarray:
    """x (N, C, H, W) copied into a zero-gapped channel-major grid (a reused workspace)."""
    channels = x.shape[1]
    grid = _workspace.zeroed_grid(role, geo, (channels, geo.grid_size), x.dtype)
    _grid_body(grid, geo, geo.lead, geo.height, geo.width)[...] = x.transpose(1, 0, 2, 3)
    return grid


def _output_grid_margins(geo: ConvGeometry) -> tuple[int, int]:
    """Zero margins before and after an output-gradient grid, for the mirrored reads of the input gradient."""
    top, _, left, _ = geo.padding
    back = top * geo.row + left
    return max(0, geo.tap_span - back), back + 1


def output_grid(g: np.ndarray, geo: ConvGeometry) -> tuple[np.ndarray, int]:
    """g (N, O, Ho, Wo) copied into a zero-gapped grid of the input's geometry; returns it and its offset."""
    front, back = _output_grid_margins(geo)
    grid = _workspace.zeroed_grid("output", geo, (g.shape[1], front + geo.length + back), g.dtype)
    _grid_body(grid, geo, front, geo.out_height, geo.out_width)[...] = g.transpose(1, 0, 2, 3)
    return grid, front


def _tap_strides(grid: np.ndarray, geo: ConvGeometry, mirrored: bool = False) -> tuple[int, int, int]:
    """Byte strides of the (C, kh, kw) axes of a column view of ``grid``."""
    (dh, dw), sign = geo.dilation, (-1 if mirrored else 1)
    return (grid.strides[0], sign * dh * geo.row * grid.itemsize, sign * dw * grid.itemsize)


def flat_columns(grid: np.ndarray, geo: ConvGeometry, start: int, count: int, mirrored: bool = False) -> Any:
    """View (C, kh, kw, count): tap (i, j) of the ``count`` grid positions from ``start`` on."""
    (kh, kw), item = geo.kernel, grid.itemsize
    return as_strided(
        grid[:, start:],
        shape=(grid.shape[0], kh, kw, count),
        strides=(*_tap_strides(grid, geo, mirrored), item),
        writeable=False,
    )


def exact_columns(
    grid: np.ndarray, geo: ConvGeometry, first: int, count: int, writeable: bool = False
) -> Any:
    """View (C, kh, kw, count, Ho, Wo): tap (i, j) of the outputs of samples first .. first + count."""
    (kh, kw), (sh, sw), item = geo.kernel, geo.stride, grid.itemsize
    return as_strided(
        grid[:, geo.first_tap + first * geo.plane :],
        shape=(grid.shape[0], kh, kw, count, geo.out_height, geo.out_width),
        strides=(*_tap_strides(grid, geo), geo.plane * item, sh * geo.row * item, sw * item),
        writeable=writeable,
    )


def _chunks(total: int, step: int) -> list[tuple[int, int]]:
    return [(start, min(total, start + step)) for start in range(0, total, step)]


def _positions_per_chunk(rows: int, itemsize: int) -> int:
    return max(1, CHUNK_BYTES // (rows * itemsize))


def _column_buffer(role: str, rows: int, positions: int, dtype: Any) -> np.ndarray:
    """A reused flat buffer for (rows, positions) columns."""
    return _workspace.scratch(role, (rows * positions,), dtype)


def _columns_into(buffer: np.ndarray, view: Any, rows: int) -> np.ndarray:
    """Copy a column view into the front of a reused buffer; returns the (rows, positions) matrix."""
    count = view.size // rows
    columns = buffer[: rows * count].reshape(view.shape)
    np.copyto(columns, view)
    return columns.reshape(rows, count)


def _grouped(matrix: np.ndarray, groups: int) -> np.ndarray:
    """(G * a, n) as (G, a, n), a view."""
    return matrix.reshape(groups, matrix.shape[0] // groups, matrix.shape[1])


# ------------------------------------------------------------------------------------------------------
# The three products of a convolution


def forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, geo: ConvGeometry, groups: int
) -> np.ndarray:
    """y = conv(x, weight) + bias, (N, C, H, W) -> (N, O, Ho, Wo), contiguous NCHW."""
    out_channels = weight.shape[0]
    rows = weight[0].size * groups  # C kh kw
    w = weight.reshape(groups, out_channels // groups, rows // groups)
    grid = input_grid(x, geo)
    if geo.flat_forward:
        out = _workspace.scratch("forward", (out_channels, geo.length), x.dtype)
        step = _positions_per_chunk(rows, x.itemsize)
        buffer = _column_buffer("columns", rows, step, x.dtype)
        for start, stop in _chunks(geo.length, step):
            view = flat_columns(grid, geo, geo.first_tap + start, stop - start)
            columns = view.reshape(rows, stop - start) if geo.taps == 1 else _columns_into(buffer, view, rows)
            np.matmul(w, _grouped(columns, groups), out=_grouped(out[:, start:stop], groups))
        values = _grid_body(out, geo, 0, geo.out_height, geo.out_width)
    else:
        spatial = geo.out_height * geo.out_width
        out = _workspace.scratch("forward", (out_channels, geo.batch * spatial), x.dtype)
        step = max(1, _positions_per_chunk(rows, x.itemsize) // spatial)
        buffer = _column_buffer("columns", rows, step * spatial, x.dtype)
        for first, last in _chunks(geo.batch, step):
            view = exact_columns(grid, geo, first, last - first)
            columns = _columns_into(buffer, view, rows)
            np.matmul(
                w, _grouped(columns, groups), out=_grouped(out[:, first * spatial : last * spatial], groups)
            )
        values = out.reshape(out_channels, geo.batch, geo.out_height, geo.out_width)
    result = np.empty((geo.batch, out_channels, geo.out_height, geo.out_width), x.dtype)
    if bias is None:
        np.copyto(result.transpose(1, 0, 2, 3), values)
    else:
        np.add(values, bias.reshape(-1, 1, 1, 1), out=result.transpose(1, 0, 2, 3))
    return result


def backward(
    x: np.ndarray | None,
    weight: np.ndarray | None,
    grad: np.ndarray,
    geo: ConvGeometry,
    groups: int,
    weight_shape: tuple[int, ...],
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Gradients of conv(x, weight) with respect to x and weight (each only if given x / weight)."""
    grad_input = None if weight is None else input_gradient(weight, grad, geo, groups)
    grad_weight = None if x is None else weight_gradient(x, grad, weight_shape, geo, groups)
    return grad_input, grad_weight


def weight_gradient(
    x: np.ndarray, grad: np.ndarray, weight_shape: tuple[int, ...], geo: ConvGeometry, groups: int
) -> np.ndarray:
    """dL/dW = sum over positions of grad (O, positions) @ cols^T (positions, C kh kw), per group."""
    out_channels = weight_shape[0]
    rows = int(np.prod(weight_shape[1:])) * groups
    grid = input_grid(x, geo)
    total = np.zeros((groups, out_channels // groups, rows // groups), x.dtype)
    if geo.flat_forward:
        g_grid, front = output_grid(grad, geo)
        step = _positions_per_chunk(rows, x.itemsize)
        buffer = _column_buffer("columns", rows, step, x.dtype)
        for start, stop in _chunks(geo.length, step):
            view = flat_columns(grid, geo, geo.first_tap + start, stop - start)
            columns = view.reshape(rows, stop - start) if geo.taps == 1 else _columns_into(buffer, view, rows)
            g = _grouped(g_grid[:, front + start : front + stop], groups)
            total += np.matmul(g, _grouped(columns, groups).transpose(0, 2, 1))
    else:
        spatial = geo.out_height * geo.out_width
        g_all = _channel_major(grad)
        step = max(1, _positions_per_chunk(rows, x.itemsize) // spatial)
        buffer = _column_buffer("columns", rows, step * spatial, x.dtype)
        for first, last in _chunks(geo.batch, step):
            columns = _columns_into(buffer, exact_columns(grid, geo, first, last - first), rows)
            g = _grouped(g_all[:, first * spatial : last * spatial], groups)
            total += np.matmul(g, _grouped(columns, groups).transpose(0, 2, 1))
    return total.reshape(weight_shape)


def _channel_major(grad: np.ndarray) -> np.ndarray:
    """(N, O, Ho, Wo) as a contiguous (O, N Ho Wo) matrix (a reused workspace)."""
    n, o, h, w = grad.shape
    out = _workspace.scratch("grad-channel-major", (o, n * h * w), grad.dtype)
    np.copyto(out.reshape(o, n, h, w), grad.transpose(1, 0, 2, 3))
    return out


def _mirrored_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """(O, C/G, kh, kw) as (G, C/G, O/G kh kw): the weight of the transposed convolution, per group."""
    o, cg, kh, kw = weight.shape
    w = weight.reshape(groups, o // groups, cg, kh, kw).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(w).reshape(groups, cg, (o // groups) * kh * kw)


def input_gradient(weight: np.ndarray, grad: np.ndarray, geo: ConvGeometry, groups: int) -> np.ndarray:
    """dL/dx (N, C, H, W): a transposed convolution of the upstream gradient (col2im when strided)."""
    if geo.stride != (1, 1):
        return _input_gradient_col2im(weight, grad, geo, groups)
    out_channels, in_channels = weight.shape[0], weight.shape[1] * groups
    rows = out_channels * geo.taps
    w = _mirrored_weight(weight, groups)
    g_grid, front = output_grid(grad, geo)
    top, _, left, _ = geo.padding
    out = _workspace.scratch("input-grad", (in_channels, geo.length), grad.dtype)
    step = _positions_per_chunk(rows, grad.itemsize)
    buffer = _column_buffer("grad-columns", rows, step, grad.dtype)
    # The input at grid position t receives tap (i, j) from the output at t + top*row + left - (i, j).
    base = front + top * geo.row + left
    for start, stop in _chunks(geo.length, step):
        view = flat_columns(g_grid, geo, base + start, stop - start, mirrored=True)
        columns = view.reshape(rows, stop - start) if geo.taps == 1 else _columns_into(buffer, view, rows)
        np.matmul(w, _grouped(columns, groups), out=_grouped(out[:, start:stop], groups))
    result = np.empty((geo.batch, in_channels, geo.height, geo.width), grad.dtype)
    np.copyto(result.transpose(1, 0, 2, 3), _grid_body(out, geo, 0, geo.height, geo.width))
    return result


def _input_gradient_col2im(
    weight: np.ndarray, grad: np.ndarray, geo: ConvGeometry, groups: int
) -> np.ndarray:
    """Strided convolution: column gradients W^T @ grad, scattered back tap by tap into a zeroed grid."""
    out_channels, in_channels = weight.shape[0], weight.shape[1] * groups
    rows = weight[0].size * groups
    w = weight.reshape(groups, out_channels // groups, rows // groups).transpose(0, 2, 1)
    g_all = _channel_major(grad)
    spatial = geo.out_height * geo.out_width
    grid = _workspace.scratch("col2im", (in_channels, geo.grid_size), grad.dtype)
    grid.fill(0)
    step = max(1, _positions_per_chunk(rows, grad.itemsize) // spatial)
    buffer = _column_buffer("grad-columns", rows, step * spatial, grad.dtype)
    (kh, kw) = geo.kernel
    for first, last in _chunks(geo.batch, step):
        count = last - first
        columns = buffer[: rows * count * spatial].reshape(rows, count * spatial)
        np.matmul(
            w, _grouped(g_all[:, first * spatial : last * spatial], groups), out=_grouped(columns, groups)
        )
        columns6 = columns.reshape(in_channels, kh, kw, count, geo.out_height, geo.out_width)
        target = exact_columns(grid, geo, first, count, writeable=True)
        for i in range(kh):
            for j in range(kw):
                np.add(target[:, i, j], columns6[:, i, j], out=target[:, i, j])
    result = np.empty((geo.batch, in_channels, geo.height, geo.width), grad.dtype)
    np.copyto(result.transpose(1, 0, 2, 3), _grid_body(grid, geo, geo.lead, geo.height, geo.width))
    return result
