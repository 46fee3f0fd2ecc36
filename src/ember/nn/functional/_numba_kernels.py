"""Compiled kernels (numba) for the two scatter-adds NumPy runs slowly: max-pooling's gradient routing and
the convolution's col2im.

Max pooling: where windows overlap (3x3 at stride 2), NumPy routes the gradient with one masked product and
one strided add per kernel tap, then de-interleaves the stride phases (``_pool_kernels``); a compiled
scatter does it in one pass over the outputs, about three times faster (``docs/performance.md``); for
2x2 windows, which NumPy assigns without adding, the scatter is still five times faster (LeNet-5). The
forward pass stays in NumPy: its branch-free per-tap steps ran as fast as a compiled loop, whose
data-dependent branches mispredict on random data.

This module imports numba, so it is imported only when ``_pool_kernels`` uses it (numba installed,
``EMBER_NUMBA`` not ``0``); compiled code is cached on disk (``cache=True``), so only the first use on a
machine pays the compilation. The kernels are serial and release the GIL: the callers share their work
among threads with ``_parallel.run_chunks``, like every other kernel (numba's own threading layer, an
OpenMP runtime, stalled PyTorch's OpenMP threads by 45 ms per operation in the same process). The
outputs are visited in reverse order, so that every input position
adds its gradients in the NumPy path's order (by increasing tap index): both paths give identical numbers.

col2im (strided convolutions, and the stride-1 input gradient where it beats the transposed convolution):
NumPy adds each tap's column gradients with one call over rows as short as the output's width, so the
per-row overhead dominates; the compiled loop adds them in the same order (tap by tap), so again the two
paths give identical numbers. It releases the GIL, so chunks run side by side on threads.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True)
def max_pool_backward(grad, arg, kw, sh, sw, dh, dw, top, left, dx):
    batch, channels, out_h, out_w = grad.shape
    height, width = dx.shape[2], dx.shape[3]
    for plane in range(batch * channels):
        n, c = plane // channels, plane % channels
        for oh in range(out_h - 1, -1, -1):
            for ow in range(out_w - 1, -1, -1):
                tap = arg[n, c, oh, ow]
                h = oh * sh - top + (tap // kw) * dh
                w = ow * sw - left + (tap % kw) * dw
                if 0 <= h < height and 0 <= w < width:  # a window all in the padding routes nowhere
                    dx[n, c, h, w] += grad[n, c, oh, ow]


@numba.njit(cache=True, nogil=True)
def col2im_add(values, cols, grid, start, plane, row_stride, col_stride, tap_row, tap_col):
    """For q < cols: grid[c, start + i tap_row + j tap_col + n plane + r row_stride + q col_stride] +=
    values[c, i, j, n, r, q]."""
    channels, kh, kw, samples, rows = values.shape[:5]
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                for n in range(samples):
                    for r in range(rows):
                        base = start + i * tap_row + j * tap_col + n * plane + r * row_stride
                        for q in range(cols):
                            grid[c, base + q * col_stride] += values[c, i, j, n, r, q]


@numba.njit(cache=True, nogil=True)
def col2im_add_unit(values, cols, grid, start, plane, row_stride, tap_row, tap_col):
    """``col2im_add`` for a column stride of 1, which the compiler can vectorize."""
    channels, kh, kw, samples, rows = values.shape[:5]
    for c in range(channels):
        target = grid[c]
        for i in range(kh):
            for j in range(kw):
                for n in range(samples):
                    for r in range(rows):
                        base = start + i * tap_row + j * tap_col + n * plane + r * row_stride
                        source = values[c, i, j, n, r]
                        for q in range(cols):
                            target[base + q] += source[q]
