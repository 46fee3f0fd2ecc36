"""The channel-major grid that makes im2col one strided view (the layout of ``_conv_kernels``).

The input of a convolution is copied once into a *grid*: channel-major (C, ...), each sample's rows laid
end to end with a gap of zeros between rows and between samples that is as wide as the padding. Padding is
then free (the gaps are the padding), and every tap (i, j) of the kernel reads the grid at a constant
offset ``i * dilation * row + j * dilation`` from the output position, so the im2col matrix of any chunk
of outputs is one ``as_strided`` view, (C, kh, kw, samples, rows, columns). Where the stride along a row is
1 the view takes whole grid rows (the few outputs that fall in the gaps are computed and dropped), so that
copying it moves long contiguous runs instead of short output rows; otherwise it takes the exact output
positions. Chunks are whole samples where their columns fit in ``CHUNK_BYTES``, else blocks of rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ember.nn.functional import _workspace
from ember.nn.functional._parallel import split_copy

# Bytes of one column chunk: small enough to stay in cache while the GEMM reads it, large enough that the
# per-chunk Python overhead stays small (measured in docs/performance.md).
CHUNK_BYTES = 1 << 21
# Computing whole grid rows wastes the outputs in the gaps; above this ratio of grid columns to output
# columns the exact positions are cheaper despite their shorter copies.
ROW_WASTE_LIMIT = 1.3
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


def grid_body(grid: np.ndarray, geo: ConvGeometry, offset: int, rows: int, cols: int) -> np.ndarray:
    """The (C, N, rows, cols) positions of a grid that hold values, as a view."""
    body = grid[:, offset : offset + geo.batch * geo.plane]
    return body.reshape(grid.shape[0], geo.batch, geo.height + geo.gap_h, geo.row)[:, :, :rows, :cols]


def input_grid(x: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """x (N, C, H, W) copied into a zero-gapped channel-major grid (a reused workspace)."""

    def values(g: np.ndarray) -> tuple[np.ndarray]:
        return (grid_body(g, geo, geo.lead, geo.height, geo.width),)

    grid = _workspace.zeroed_grid("input", geo, (x.shape[1], geo.grid_size), x.dtype, values)
    split_copy(values(grid)[0], x.transpose(1, 0, 2, 3))
    return grid


def output_grid(grad: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """dy (N, O, Ho, Wo) in a zero-gapped grid of the input's geometry, with the zero margins of
    ``output_margins`` before and after, for the transposed convolution."""
    front, back = geo.output_margins

    def values(g: np.ndarray) -> tuple[np.ndarray]:
        return (grid_body(g, geo, front, geo.out_height, geo.out_width),)

    shape = (grad.shape[1], front + geo.batch * geo.plane + back)
    grid = _workspace.zeroed_grid("output", geo, shape, grad.dtype, values)
    split_copy(values(grid)[0], grad.transpose(1, 0, 2, 3))
    return grid


def output_positions(grad: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """dy (N, O, Ho, Wo) as the (O, N, Ho, out_cols) matrix of the computed positions, zero in the gaps."""

    def values(p: np.ndarray) -> tuple[np.ndarray]:
        return (p[..., : geo.out_width],)

    shape = (grad.shape[1], geo.batch, geo.out_height, geo.out_cols)
    positions = _workspace.zeroed_grid("positions", geo, shape, grad.dtype, values)
    split_copy(values(positions)[0], grad.transpose(1, 0, 2, 3))
    return positions


def chunks(batch: int, rows: int, cols: int, column_rows: int, itemsize: int) -> tuple[Chunk, ...]:
    """Whole samples per chunk where one fits in CHUNK_BYTES of columns, else blocks of rows of one sample."""
    return _chunks(batch, rows, cols, column_rows * cols * itemsize, CHUNK_BYTES)


@functools.lru_cache(maxsize=512)
def _chunks(batch: int, rows: int, cols: int, per_row: int, budget: int) -> tuple[Chunk, ...]:
    if per_row * rows <= budget:
        step = max(1, budget // (per_row * rows))
        return tuple((n, min(batch, n + step), 0, rows) for n in range(0, batch, step))
    step = max(1, budget // per_row)
    return tuple((n, n + 1, r, min(rows, r + step)) for n in range(batch) for r in range(0, rows, step))


def forward_chunks(geo: ConvGeometry, column_rows: int, itemsize: int) -> tuple[Chunk, ...]:
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


def forward_view(grid: np.ndarray, geo: ConvGeometry, chunk: Chunk) -> Any:
    sh, sw = geo.stride
    return column_view(grid, geo, geo.first_tap, chunk, geo.out_cols, (sh * geo.row, sw))


def as_matrix(view: Any, rows: int, buffer: np.ndarray) -> np.ndarray:
    """A column view as a (rows, positions) matrix: the view itself if it is one, else copied into buffer."""
    count = view.size // rows
    try:
        return np.reshape(view, (rows, count), copy=False)
    except ValueError:
        columns = buffer[: rows * count].reshape(view.shape)
        np.copyto(columns, view)
        return columns.reshape(rows, count)


def block(array: np.ndarray, chunk: Chunk) -> np.ndarray:
    """Positions of a chunk of a (C, N, rows, cols) array as a (C, positions) matrix view."""
    n0, n1, r0, r1 = chunk
    return np.reshape(array[:, n0:n1, r0:r1], (array.shape[0], -1), copy=False)


def grouped(matrix: np.ndarray, groups: int) -> np.ndarray:
    """(G * a, n) as (G, a, n), a view."""
    return matrix.reshape(groups, matrix.shape[0] // groups, matrix.shape[1])


def buffer_size(rows: int, chunk_list: tuple[Chunk, ...], cols: int) -> tuple[int]:
    """Shape of a flat buffer that holds the (rows, positions) columns of the largest chunk."""
    return (rows * cols * max((n1 - n0) * (r1 - r0) for n0, n1, r0, r1 in chunk_list),)


def to_nchw(values: np.ndarray, dtype: Any, bias: np.ndarray | None = None) -> np.ndarray:
    """(C, N, H, W) values as a new contiguous (N, C, H, W) array, with the bias added on the way."""
    c, n, h, w = values.shape
    result = np.empty((n, c, h, w), dtype)
    split_copy(result.transpose(1, 0, 2, 3), values, None if bias is None else bias.reshape(-1, 1, 1, 1))
    return result
