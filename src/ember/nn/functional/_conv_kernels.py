"""Convolution on NumPy arrays as large matrix multiplies: im2col as one strided view of a channel-major grid.

The course's (and cs231n's) im2col: stretch every receptive field into a column, so that the convolution
becomes one GEMM, W (C_out, C_in kh kw) @ cols (C_in kh kw, positions). Where a NumPy convolution loses its
time is not the GEMM but the copies around it (``docs/performance.md``): building cols with a Python loop
of slices, and scattering the gradient back (col2im). Ember avoids most of both with one layout:

- The input is copied once into a channel-major *grid* whose gaps are the padding (``_conv_grid``), so im2col
  is a single ``as_strided`` view of the grid, copied chunk by chunk into a cache-sized buffer in one NumPy
  call each, mostly as long contiguous runs.
- The gradient with respect to the input of a stride-1 convolution is itself a convolution (a transposed
  one, Dumoulin and Visin 2016): the upstream gradient, written into a grid of the same geometry, is read
  with the taps mirrored, and one GEMM per chunk gives the input gradient; no scatter-add. Where that
  convolution would be much larger (many more output than input channels, or a 'valid' convolution whose
  gradient grid is mostly zeros) and for strided convolutions, the column gradients W^T @ dy are scattered
  back tap by tap (col2im) instead.
- Chunks keep the column buffer in cache, the buffers are reused between calls (``_workspace``), and the
  chunks are shared among the BLAS thread budget's threads (``_parallel``).
- col2im's scatter-add runs compiled where numba is installed (``_numba_kernels``), with the same numbers
  as its NumPy loop here.
- 1x1 convolutions need none of this: a GEMM per sample, in NCHW, with no grid and no columns.

Groups are a batch of independent GEMMs (``np.matmul`` over a leading group axis): channels are grouped
contiguously in the channel-major layout, so no copy is needed to split them.
"""

from __future__ import annotations

import numpy as np

from ember.nn.functional import _workspace
from ember.nn.functional._compiled import compiled
from ember.nn.functional._conv_grid import (
    Chunk,
    ConvGeometry,
    as_matrix,
    block,
    buffer_size,
    chunks,
    column_view,
    forward_chunks,
    forward_view,
    grid_body,
    grouped,
    input_grid,
    output_grid,
    output_positions,
    to_nchw,
)
from ember.nn.functional._parallel import run_chunks, sum_chunks

# Relative costs per element, measured on this project's machine: a strided add (col2im) against a copy
# (building the transposed convolution's columns). They decide how the input gradient is computed.
COPY_COST, ADD_COST = 1.0, 2.5
# The workspace role of the channel-major GEMM product that ``to_nchw`` copies out. The forward and the
# transposed convolution share it: a layer's forward output and its input gradient often have the same
# shape, and the two are never in use at once (each kernel copies it out before returning).
PRODUCT = "channel-major-product"


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
# The three products of a convolution


@_workspace.kernel
def forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, geo: ConvGeometry, groups: int
) -> np.ndarray:
    """y = conv(x, weight) + bias, (N, C, H, W) -> (N, O, Ho, Wo), contiguous NCHW."""
    if geo.batch == 0:
        return np.zeros((0, weight.shape[0], geo.out_height, geo.out_width), x.dtype)
    if is_pointwise(geo):
        return _pointwise_forward(x, weight, bias, geo, groups)
    out_channels, rows = weight.shape[0], weight[0].size * groups  # rows: C kh kw
    w = weight.reshape(groups, out_channels // groups, rows // groups)
    grid = input_grid(x, geo)
    shape = (out_channels, geo.batch, geo.out_height, geo.out_cols)
    out = _workspace.scratch(PRODUCT, shape, x.dtype)
    chunk_list = forward_chunks(geo, rows, x.itemsize)
    size = buffer_size(rows, chunk_list, geo.out_cols)

    def body(chunk: Chunk) -> None:
        columns = as_matrix(
            forward_view(grid, geo, chunk), rows, _workspace.scratch("columns", size, x.dtype)
        )
        np.matmul(w, grouped(columns, groups), out=grouped(block(out, chunk), groups))

    run_chunks(chunk_list, body)
    return to_nchw(out[..., : geo.out_width], x.dtype, bias)


@_workspace.kernel
def backward(
    x: np.ndarray | None,
    weight: np.ndarray | None,
    grad: np.ndarray,
    geo: ConvGeometry,
    groups: int,
    weight_shape: tuple[int, ...],
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Gradients of conv(x, weight) with respect to x and weight (each only if given x / weight).

    The input gradient as a transposed convolution comes first, before dy is copied into its positions,
    so that the positions can share the workspace buffer of the product it copies out
    (``_workspace.SHARED_BUFFERS``); col2im reads the positions itself."""
    grad_input = positions = None
    direct = is_pointwise(geo) or geo.batch == 0
    if weight is not None and (direct or prefers_transposed(geo, weight.shape[1] * groups, weight.shape[0])):
        grad_input = input_gradient(weight, grad, geo, groups)
    if not direct:
        positions = output_positions(grad, geo)
    if weight is not None and grad_input is None:
        grad_input = input_gradient(weight, grad, geo, groups, positions)
    grad_weight = None if x is None else weight_gradient(x, grad, weight_shape, geo, groups, positions)
    return grad_input, grad_weight


@_workspace.kernel
def weight_gradient(
    x: np.ndarray,
    grad: np.ndarray,
    weight_shape: tuple[int, ...],
    geo: ConvGeometry,
    groups: int,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """dL/dW = sum over positions of dy (O, positions) @ cols^T (positions, C kh kw), per group."""
    if geo.batch == 0:
        return np.zeros(weight_shape, x.dtype)
    if is_pointwise(geo):
        return _pointwise_weight_gradient(x, grad, weight_shape, geo, groups)
    rows = int(np.prod(weight_shape[1:])) * groups
    positions = output_positions(grad, geo) if positions is None else positions
    grid = input_grid(x, geo)
    chunk_list = forward_chunks(geo, rows, x.itemsize)
    size = buffer_size(rows, chunk_list, geo.out_cols)

    def body(chunk: Chunk) -> np.ndarray:
        columns = as_matrix(
            forward_view(grid, geo, chunk), rows, _workspace.scratch("columns", size, x.dtype)
        )
        # dW^T = cols @ dy^T, (C kh kw, O) per group: OpenBLAS runs this orientation of the long-inner-
        # dimension product 1.5-1.8x faster than dy @ cols^T (docs/performance.md).
        return np.matmul(
            grouped(columns, groups), grouped(block(positions, chunk), groups).transpose(0, 2, 1)
        )

    total = sum_chunks(chunk_list, body)
    return np.ascontiguousarray(total.transpose(0, 2, 1)).reshape(weight_shape)


@_workspace.kernel
def input_gradient(
    weight: np.ndarray, grad: np.ndarray, geo: ConvGeometry, groups: int, positions: np.ndarray | None = None
) -> np.ndarray:
    """dL/dx (N, C, H, W): a transposed convolution of dy, or col2im of the column gradients W^T dy."""
    if geo.batch == 0:
        return np.zeros((0, weight.shape[1] * groups, geo.height, geo.width), grad.dtype)
    if is_pointwise(geo):
        return _pointwise_input_gradient(weight, grad, geo, groups)
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
    out = _workspace.scratch(PRODUCT, (in_channels, geo.batch, geo.height, geo.row), grad.dtype)
    chunk_list = chunks(geo.batch, geo.height, geo.row, rows, grad.itemsize)
    size = buffer_size(rows, chunk_list, geo.row)

    def body(chunk: Chunk) -> None:
        view = column_view(g_grid, geo, start, chunk, geo.row, (geo.row, 1), mirrored=True)
        columns = as_matrix(view, rows, _workspace.scratch("grad-columns", size, grad.dtype))
        np.matmul(w, grouped(columns, groups), out=grouped(block(out, chunk), groups))

    run_chunks(chunk_list, body)
    return to_nchw(out[..., : geo.width], grad.dtype)


def _col2im(weight: np.ndarray, positions: np.ndarray, geo: ConvGeometry, groups: int) -> np.ndarray:
    """Column gradients W^T @ dy, chunk by chunk, added back tap by tap into a zeroed input grid."""
    out_channels, in_channels = weight.shape[0], weight.shape[1] * groups
    rows = weight[0].size * groups
    w = weight.reshape(groups, out_channels // groups, rows // groups).transpose(0, 2, 1)
    grid = _workspace.scratch("col2im", (in_channels, geo.grid_size), positions.dtype)
    grid.fill(0)
    chunk_list = forward_chunks(geo, rows, positions.itemsize)
    size = buffer_size(rows, chunk_list, geo.out_cols)
    kh, kw = geo.kernel

    kernels = compiled()
    sh, sw = geo.stride

    def body(chunk: Chunk) -> None:
        g = block(positions, chunk)
        columns = _workspace.scratch("grad-columns", size, positions.dtype)[: rows * g.shape[1]]
        columns = columns.reshape(rows, g.shape[1])
        np.matmul(w, grouped(g, groups), out=grouped(columns, groups))
        # Only the real outputs are added back, so that a chunk writes nothing outside its own samples'
        # rows and gaps (and chunks of whole samples can run side by side).
        n0, n1, r0, r1 = chunk
        values = columns.reshape(in_channels, kh, kw, n1 - n0, r1 - r0, geo.out_cols)
        if kernels is not None:
            start = geo.first_tap + n0 * geo.plane + r0 * sh * geo.row
            dh, dw = geo.dilation
            steps = (geo.plane, sh * geo.row)
            if sw == 1:
                kernels.col2im_add_unit(values, geo.out_width, grid, start, *steps, dh * geo.row, dw)
            else:
                kernels.col2im_add(values, geo.out_width, grid, start, *steps, sw, dh * geo.row, dw)
            return
        values = values[..., : geo.out_width]
        target = column_view(grid, geo, geo.first_tap, chunk, geo.out_width, geo_strides, writeable=True)
        for i in range(kh):
            for j in range(kw):
                np.add(target[:, i, j], values[:, i, j], out=target[:, i, j])

    geo_strides = (geo.stride[0] * geo.row, geo.stride[1])
    whole_samples = all(r0 == 0 and r1 == geo.out_height for _, _, r0, r1 in chunk_list)
    run_chunks(chunk_list, body, parallel=whole_samples)
    return to_nchw(grid_body(grid, geo, geo.lead, geo.height, geo.width), positions.dtype)


# ------------------------------------------------------------------------------------------------------
# 1x1 convolutions: a plain GEMM per sample, in NCHW, with no grid and no columns


def is_pointwise(geo: ConvGeometry) -> bool:
    return geo.kernel == (1, 1) and geo.padding == (0, 0, 0, 0)


def _samples(geo: ConvGeometry, channels: int, itemsize: int) -> tuple[Chunk, ...]:
    return chunks(geo.batch, 1, geo.out_height * geo.out_width, channels, itemsize)


def _per_group(array: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, ...) as (N, G, C / G, positions)."""
    n, c = array.shape[:2]
    return array.reshape(n, groups, c // groups, -1)


def _sampled(x: np.ndarray, geo: ConvGeometry, groups: int) -> np.ndarray:
    """x at the output positions as (N, G, C / G, Ho Wo): a view at stride 1, else one strided copy."""
    sh, sw = geo.stride
    return _per_group(x[:, :, : geo.out_height * sh : sh, : geo.out_width * sw : sw], groups)


def _pointwise_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, geo: ConvGeometry, groups: int
) -> np.ndarray:
    out_channels, in_channels = weight.shape[0], weight.shape[1] * groups
    w = weight.reshape(groups, out_channels // groups, in_channels // groups)
    xs = _sampled(x, geo, groups)
    out = np.empty((geo.batch, out_channels, geo.out_height, geo.out_width), x.dtype)
    out4 = _per_group(out, groups)
    shift = None if bias is None else bias.reshape(groups, out_channels // groups, 1)

    def body(chunk: Chunk) -> None:
        first, last = chunk[:2]
        np.matmul(w, xs[first:last], out=out4[first:last])
        if shift is not None:
            out4[first:last] += shift

    run_chunks(_samples(geo, in_channels, x.itemsize), body)
    return out


def _pointwise_weight_gradient(
    x: np.ndarray, grad: np.ndarray, weight_shape: tuple[int, ...], geo: ConvGeometry, groups: int
) -> np.ndarray:
    xs, g = _sampled(x, geo, groups), _per_group(grad, groups)

    def body(chunk: Chunk) -> np.ndarray:
        first, last = chunk[:2]
        return np.matmul(g[first:last], xs[first:last].swapaxes(-1, -2)).sum(axis=0)

    return sum_chunks(_samples(geo, weight_shape[1] * groups, x.itemsize), body).reshape(weight_shape)


def _pointwise_input_gradient(
    weight: np.ndarray, grad: np.ndarray, geo: ConvGeometry, groups: int
) -> np.ndarray:
    out_channels, in_channels = weight.shape[0], weight.shape[1] * groups
    w = weight.reshape(groups, out_channels // groups, in_channels // groups).swapaxes(-1, -2)
    g = _per_group(grad, groups)
    values = np.empty((geo.batch, in_channels, geo.out_height, geo.out_width), grad.dtype)
    values4 = _per_group(values, groups)

    def body(chunk: Chunk) -> None:
        first, last = chunk[:2]
        np.matmul(w, g[first:last], out=values4[first:last])

    run_chunks(_samples(geo, in_channels, grad.itemsize), body)
    sh, sw = geo.stride
    if (geo.out_height, geo.out_width) == (geo.height, geo.width):
        return values
    result = np.zeros((geo.batch, in_channels, geo.height, geo.width), grad.dtype)
    result[:, :, : geo.out_height * sh : sh, : geo.out_width * sw : sw] = values
    return result
