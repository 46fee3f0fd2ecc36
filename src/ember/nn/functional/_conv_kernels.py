"""Convolution on NumPy arrays as large matrix multiplies: im2col as one strided view of a channel-major grid.

The course's (and cs231n's) im2col: stretch every receptive field into a column, so that the convolution
becomes one GEMM, W (C_out, C_in kh kw) @ cols (C_in kh kw, positions). Where a NumPy convolution loses its
time is not the GEMM but the copies around it (``docs/performance.md``): building cols with a Python loop
of slices, and scattering the gradient back (col2im). Ember avoids most of both with one layout:

- The input is copied once into a *grid*: channel-major (C, ...), each sample's rows laid end to end with
  a gap of zeros between rows and between samples that is as wide as the padding. Padding is then free
  (the gaps are the padding), and every tap (i, j) of the kernel reads the grid at a constant offset
  ``i * dilation * row + j * dilation`` from the output position.
- So im2col is a single ``as_strided`` view of the grid, (C, kh, kw, samples, rows, columns), copied chunk
  by chunk into a cache-sized buffer in one NumPy call each. Where the stride along a row is 1 the view
  takes whole grid rows (the few outputs that fall in the gaps are computed and dropped), so the copy
  moves long contiguous runs instead of short output rows; otherwise it takes the exact output positions.
- The gradient with respect to the input of a stride-1 convolution is itself a convolution (a transposed
  one, Dumoulin and Visin 2016): the upstream gradient, written into a grid of the same geometry, is read
  with the taps mirrored, and one GEMM per chunk gives the input gradient; no scatter-add. Where that
  convolution would be much larger (many more output than input channels, or a 'valid' convolution whose
  gradient grid is mostly zeros) and for strided convolutions, the column gradients W^T @ dy are scattered
  back tap by tap (col2im) instead.
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
from ember.nn.functional._parallel import run_chunks

# Bytes of one column chunk: small enough to stay in cache while the GEMM reads it, large enough that the
# per-chunk Python overhead stays small (measured in docs/performance.md).
CHUNK_BYTES = 1 << 21
# Computing whole grid rows wastes the outputs in the gaps; above this ratio of grid columns to output
# columns the exact positions are cheaper despite their shorter copies.
ROW_WASTE_LIMIT = 1.5
# Relative costs per element, measured on this project's machine: a strided add (col2im) against a copy
# (building the transposed convolution's columns). They decide how the input gradient is computed.
COPY_COST, ADD_COST = 1.0, 2.5

Chunk = tuple[int, int, int, int]  # samples first .. last, rows first .. last


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
    lead: int  # grid offset of input (0, 0) of sample 0
    first_tap: int  # grid offset of tap (0, 0) for output (0, 0) of sample 0
    out_cols: int  # columns computed per output row: the whole grid row, or exactly out_width
    transposed_input_grad: bool  # input gradient as a transposed convolution (else col2im)

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
        """Length of an input grid: every read of every computed output stays inside."""
        (sh, sw), last = self.stride, self.batch - 1
        furthest = self.first_tap + last * self.plane + (self.out_height - 1) * sh * self.row
        furthest += (self.out_cols - 1) * sw + self.tap_span
        return max(self.lead + self.batch * self.plane, furthest + 1)

    @property
    def output_margins(self) -> tuple[int, int]:
        """Zero margins before and after an output-gradient grid, for the mirrored reads."""
        top, _, left, _ = self.padding
        back = top * self.row + left
        return max(0, self.tap_span - back), back + 1


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
    out_cols = row if sw == 1 and row <= ROW_WASTE_LIMIT * out_width else out_width
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
        (height + gap_h) * row,
        gap_h * row + gap_w,
        gap_h * row + gap_w - top * row - left,
        out_cols,
        (sh, sw) == (1, 1),
    )


def prefers_transposed(geo: ConvGeometry, in_channels: int, out_channels: int) -> bool:
    """Whether the input gradient is cheaper as a transposed convolution than by col2im (stride 1 only).

    Both do the same GEMM work; they differ in the data moved per tap: the transposed convolution copies
    out_channels values per input position, col2im adds in_channels values per output position.
    """
    if not geo.transposed_input_grad:
        return False
    transposed = COPY_COST * out_channels * geo.height * geo.row
    scattered = ADD_COST * in_channels * geo.out_height * geo.out_cols
    return transposed <= scattered


# ------------------------------------------------------------------------------------------------------
# Grids, chunks and column views


def _body(grid: np.ndarray, geo: ConvGeometry, offset: int, rows: int, cols: int) -> np.ndarray:
    """The (C, N, rows, cols) positions of a grid that hold values, as a view."""
    body = grid[:, offset : offset + geo.batch * geo.plane]
    return body.reshape(grid.shape[0], geo.batch, geo.height + geo.gap_h, geo.row)[:, :, :rows, :cols]


def input_grid(x: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """x (N, C, H, W) copied into a zero-gapped channel-major grid (a reused workspace)."""
    grid = _workspace.zeroed_grid("input", geo, (x.shape[1], geo.grid_size), x.dtype)
    _body(grid, geo, geo.lead, geo.height, geo.width)[...] = x.transpose(1, 0, 2, 3)
    return grid


def output_grid(grad: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """dy (N, O, Ho, Wo) in a zero-gapped grid of the input's geometry, with the zero margins of
    ``output_margins`` before and after, for the transposed convolution."""
    front, back = geo.output_margins
    grid = _workspace.zeroed_grid(
        "output", geo, (grad.shape[1], front + geo.batch * geo.plane + back), grad.dtype
    )
    _body(grid, geo, front, geo.out_height, geo.out_width)[...] = grad.transpose(1, 0, 2, 3)
    return grid


def output_positions(grad: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """dy (N, O, Ho, Wo) as the (O, N, Ho, out_cols) matrix of the computed positions, zero in the gaps."""
    shape = (grad.shape[1], geo.batch, geo.out_height, geo.out_cols)
    positions = _workspace.zeroed_grid("positions", geo, shape, grad.dtype)
    positions[..., : geo.out_width] = grad.transpose(1, 0, 2, 3)
    return positions


@functools.lru_cache(maxsize=512)
def chunks(batch: int, rows: int, cols: int, column_rows: int, itemsize: int) -> tuple[Chunk, ...]:
    """Whole samples per chunk where one fits in CHUNK_BYTES of columns, else blocks of rows of one sample."""
    per_row = column_rows * cols * itemsize
    if per_row * rows <= CHUNK_BYTES:
        step = max(1, CHUNK_BYTES // (per_row * rows))
        return tuple((n, min(batch, n + step), 0, rows) for n in range(0, batch, step))
    step = max(1, CHUNK_BYTES // per_row)
    return tuple((n, n + 1, r, min(rows, r + step)) for n in range(batch) for r in range(0, rows, step))


def _forward_chunks(geo: ConvGeometry, column_rows: int, itemsize: int) -> tuple[Chunk, ...]:
    return chunks(geo.batch, geo.out_height, geo.out_cols, column_rows, itemsize)


def column_view(
    grid: np.ndarray,
    geo: ConvGeometry,
    start: int,
    chunk: Chunk,
    cols: int,
    position_strides: tuple[int, int],
    mirrored: bool = False,
    writeable: bool = False,
) -> Any:
    """View (C, kh, kw, samples, rows, cols) of ``grid``: tap (i, j) of each position of the chunk."""
    (kh, kw), (dh, dw), item = geo.kernel, geo.dilation, grid.itemsize
    n0, n1, r0, r1 = chunk
    row_stride, col_stride = position_strides
    sign = -1 if mirrored else 1
    return as_strided(
        grid[:, start + n0 * geo.plane + r0 * row_stride :],
        shape=(grid.shape[0], kh, kw, n1 - n0, r1 - r0, cols),
        strides=(
            grid.strides[0],
            sign * dh * geo.row * item,
            sign * dw * item,
            geo.plane * item,
            row_stride * item,
            col_stride * item,
        ),
        writeable=writeable,
    )


def _forward_view(grid: np.ndarray, geo: ConvGeometry, chunk: Chunk) -> Any:
    sh, sw = geo.stride
    return column_view(grid, geo, geo.first_tap, chunk, geo.out_cols, (sh * geo.row, sw))


def _matrix(view: Any, rows: int, buffer: np.ndarray) -> np.ndarray:
    """A column view as a (rows, positions) matrix: the view itself if it is one, else copied into buffer."""
    count = view.size // rows
    try:
        return np.reshape(view, (rows, count), copy=False)
    except ValueError:
        columns = buffer[: rows * count].reshape(view.shape)
        np.copyto(columns, view)
        return columns.reshape(rows, count)


def _block(array: np.ndarray, chunk: Chunk) -> np.ndarray:
    """Positions of a chunk of a (C, N, rows, cols) array as a (C, positions) matrix view."""
    n0, n1, r0, r1 = chunk
    return np.reshape(array[:, n0:n1, r0:r1], (array.shape[0], -1), copy=False)


def _grouped(matrix: np.ndarray, groups: int) -> np.ndarray:
    """(G * a, n) as (G, a, n), a view."""
    return matrix.reshape(groups, matrix.shape[0] // groups, matrix.shape[1])


def _buffer_size(rows: int, chunk_list: tuple[Chunk, ...], cols: int) -> tuple[int]:
    """Shape of a flat buffer that holds the (rows, positions) columns of the largest chunk."""
    return (rows * cols * max((n1 - n0) * (r1 - r0) for n0, n1, r0, r1 in chunk_list),)


def _to_nchw(values: np.ndarray, dtype: Any, bias: np.ndarray | None = None) -> np.ndarray:
    """(C, N, H, W) values as a new contiguous (N, C, H, W) array, with the bias added on the way."""
    c, n, h, w = values.shape
    result = np.empty((n, c, h, w), dtype)
    if bias is None:
        np.copyto(result.transpose(1, 0, 2, 3), values)
    else:
        np.add(values, bias.reshape(-1, 1, 1, 1), out=result.transpose(1, 0, 2, 3))
    return result


# ------------------------------------------------------------------------------------------------------
# The three products of a convolution


def forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, geo: ConvGeometry, groups: int
) -> np.ndarray:
    """y = conv(x, weight) + bias, (N, C, H, W) -> (N, O, Ho, Wo), contiguous NCHW."""
    out_channels, rows = weight.shape[0], weight[0].size * groups  # rows: C kh kw
    w = weight.reshape(groups, out_channels // groups, rows // groups)
    grid = input_grid(x, geo)
    out = _workspace.scratch("forward", (out_channels, geo.batch, geo.out_height, geo.out_cols), x.dtype)
    chunk_list = _forward_chunks(geo, rows, x.itemsize)
    size = _buffer_size(rows, chunk_list, geo.out_cols)

    def body(chunk: Chunk, worker: int) -> None:
        columns = _matrix(_forward_view(grid, geo, chunk), rows, _workspace.scratch("columns", size, x.dtype))
        np.matmul(w, _grouped(columns, groups), out=_grouped(_block(out, chunk), groups))

    run_chunks(chunk_list, body)
    return _to_nchw(out[..., : geo.out_width], x.dtype, bias)


def backward(
    x: np.ndarray | None,
    weight: np.ndarray | None,
    grad: np.ndarray,
    geo: ConvGeometry,
    groups: int,
    weight_shape: tuple[int, ...],
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Gradients of conv(x, weight) with respect to x and weight (each only if given x / weight)."""
    positions = output_positions(grad, geo)
    grad_input = None if weight is None else input_gradient(weight, grad, geo, groups, positions)
    grad_weight = None if x is None else weight_gradient(x, grad, weight_shape, geo, groups, positions)
    return grad_input, grad_weight


def weight_gradient(
    x: np.ndarray,
    grad: np.ndarray,
    weight_shape: tuple[int, ...],
    geo: ConvGeometry,
    groups: int,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """dL/dW = sum over positions of dy (O, positions) @ cols^T (positions, C kh kw), per group."""
    rows = int(np.prod(weight_shape[1:])) * groups
    positions = output_positions(grad, geo) if positions is None else positions
    grid = input_grid(x, geo)
    chunk_list = _forward_chunks(geo, rows, x.itemsize)
    size = _buffer_size(rows, chunk_list, geo.out_cols)
    totals: dict[int, np.ndarray] = {}  # one running sum per worker

    def body(chunk: Chunk, worker: int) -> None:
        columns = _matrix(_forward_view(grid, geo, chunk), rows, _workspace.scratch("columns", size, x.dtype))
        product = np.matmul(
            _grouped(_block(positions, chunk), groups), _grouped(columns, groups).transpose(0, 2, 1)
        )
        if worker in totals:
            totals[worker] += product
        else:
            totals[worker] = product

    workers = run_chunks(chunk_list, body)
    total = totals[0]
    for worker in range(1, workers):  # a fixed order: the same sum for the same thread count
        total += totals[worker]
    return total.reshape(weight_shape)


def input_gradient(
    weight: np.ndarray, grad: np.ndarray, geo: ConvGeometry, groups: int, positions: np.ndarray | None = None
) -> np.ndarray:
    """dL/dx (N, C, H, W): a transposed convolution of dy, or col2im of the column gradients W^T dy."""
    out_channels, in_channels = weight.shape[0], weight.shape[1] * groups
    if prefers_transposed(geo, in_channels, out_channels):
        return _transposed_convolution(weight, grad, geo, groups)
    positions = output_positions(grad, geo) if positions is None else positions
    return _col2im(weight, positions, geo, groups)


def _mirrored_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """(O, C/G, kh, kw) as (G, C/G, O/G kh kw): the weight of the transposed convolution, per group."""
    o, cg, kh, kw = weight.shape
    w = weight.reshape(groups, o // groups, cg, kh, kw).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(w).reshape(groups, cg, (o // groups) * kh * kw)


def _transposed_convolution(
    weight: np.ndarray, grad: np.ndarray, geo: ConvGeometry, groups: int
) -> np.ndarray:
    """Stride 1: input position t receives tap (i, j) from the output at t + (top, left) - (i, j)."""
    out_channels, in_channels = weight.shape[0], weight.shape[1] * groups
    rows = out_channels * geo.taps
    w = _mirrored_weight(weight, groups)
    g_grid = output_grid(grad, geo)
    top, _, left, _ = geo.padding
    start = geo.output_margins[0] + top * geo.row + left
    out = _workspace.scratch("input-grad", (in_channels, geo.batch, geo.height, geo.row), grad.dtype)
    chunk_list = chunks(geo.batch, geo.height, geo.row, rows, grad.itemsize)
    size = _buffer_size(rows, chunk_list, geo.row)

    def body(chunk: Chunk, worker: int) -> None:
        view = column_view(g_grid, geo, start, chunk, geo.row, (geo.row, 1), mirrored=True)
        columns = _matrix(view, rows, _workspace.scratch("grad-columns", size, grad.dtype))
        np.matmul(w, _grouped(columns, groups), out=_grouped(_block(out, chunk), groups))

    run_chunks(chunk_list, body)
    return _to_nchw(out[..., : geo.width], grad.dtype)


def _col2im(weight: np.ndarray, positions: np.ndarray, geo: ConvGeometry, groups: int) -> np.ndarray:
    """Column gradients W^T @ dy, chunk by chunk, added back tap by tap into a zeroed input grid."""
    out_channels, in_channels = weight.shape[0], weight.shape[1] * groups
    rows = weight[0].size * groups
    w = weight.reshape(groups, out_channels // groups, rows // groups).transpose(0, 2, 1)
    grid = _workspace.scratch("col2im", (in_channels, geo.grid_size), positions.dtype)
    grid.fill(0)
    chunk_list = _forward_chunks(geo, rows, positions.itemsize)
    size = _buffer_size(rows, chunk_list, geo.out_cols)
    kh, kw = geo.kernel

    def body(chunk: Chunk, worker: int) -> None:
        g = _block(positions, chunk)
        columns = _workspace.scratch("grad-columns", size, positions.dtype)[: rows * g.shape[1]]
        columns = columns.reshape(rows, g.shape[1])
        np.matmul(w, _grouped(g, groups), out=_grouped(columns, groups))
        # Only the real outputs are added back, so that a chunk writes nothing outside its own samples'
        # rows and gaps (and chunks of whole samples can run side by side).
        target = column_view(grid, geo, geo.first_tap, chunk, geo.out_width, geo_strides, writeable=True)
        values = columns.reshape(*target.shape[:-1], geo.out_cols)[..., : geo.out_width]
        for i in range(kh):
            for j in range(kw):
                np.add(target[:, i, j], values[:, i, j], out=target[:, i, j])

    geo_strides = (geo.stride[0] * geo.row, geo.stride[1])
    whole_samples = all(r0 == 0 and r1 == geo.out_height for _, _, r0, r1 in chunk_list)
    run_chunks(chunk_list, body, parallel=whole_samples)
    return _to_nchw(_body(grid, geo, geo.lead, geo.height, geo.width), positions.dtype)
