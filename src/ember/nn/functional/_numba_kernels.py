"""Compiled kernels (numba) for the loops NumPy runs slowly: max pooling (the 2x2 stride-2 windows of
LeNet-5 and VGG both ways, any other window's gradient routing) and the convolution's col2im.

Max pooling: where windows overlap (3x3 at stride 2), NumPy routes the gradient with one masked product and
one strided add per kernel tap, then de-interleaves the stride phases (``_pool_kernels``); a compiled
scatter does it in one pass over the outputs, about three times faster (``docs/performance.md``). For
other windows NumPy's forward (branch-free steps per tap on the stride phases) runs as fast as a general
compiled loop, but the 2x2 stride-2 window without padding, by far the most common, needs no phases: a
loop over each pair of input rows reads every value once and picks without branches (the picks are
PyTorch's: the first maximum, the last NaN; the kernels' docstrings say how the compiler is kept from
making branches of the selects), and its backward writes every input position once (the gradient at the
window's maximum, zero at the other three), looping over the input columns so that the stores are
contiguous: 2.5-7x faster forward, 3x backward than the general
paths, with identical numbers (``tests/nn/test_pooling.py``). Average pooling's 2x2 windows (LeNet-5's
subsampling) get the same two loops: the sum of the four taps in NumPy's order, and the spread.

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
import numpy as np


@numba.njit(cache=True, nogil=True)
def max_pool_2x2(x, out, arg):
    """out, arg = the maximum of each 2x2 window at stride 2 (no padding) and its tap (0-3, row-major): the
    first maximum on ties, the last NaN if any (PyTorch's ``val > max || isnan(val)``).

    Branch-free for rows without NaN: each step is one ordered comparison and a select of the larger
    value (the processor's max instruction), and the tap is computed in integers, not by nested selects
    (which the compiler turned into branches that the processor mispredicts on random data: 15 ns per
    window on AVX2 against 2.2 for all-zero input). A row with a NaN is computed again by ``_max_row``."""
    batch, channels, out_h, out_w = out.shape
    one, two, three = np.uint8(1), np.uint8(2), np.uint8(3)
    for n in range(batch):
        for c in range(channels):
            for oh in range(out_h):
                top = x[n, c, 2 * oh]
                bottom = x[n, c, 2 * oh + 1]
                values = out[n, c, oh]
                taps = arg[n, c, oh]
                nan = False
                for ow in range(out_w):
                    best = top[2 * ow]
                    v1 = top[2 * ow + 1]
                    v2 = bottom[2 * ow]
                    v3 = bottom[2 * ow + 1]
                    nan |= (best != best) | (v1 != v1) | (v2 != v2) | (v3 != v3)
                    t1 = v1 > best
                    best = v1 if t1 else best
                    t2 = v2 > best
                    best = v2 if t2 else best
                    t3 = v3 > best
                    best = v3 if t3 else best
                    tap = one * t1  # the last tap that was larger than all before it
                    tap += np.uint8(t2) * (two - tap)
                    tap += np.uint8(t3) * (three - tap)
                    values[ow] = best
                    taps[ow] = tap
                if nan:
                    _max_row(top, bottom, values, taps)


@numba.njit(cache=True, nogil=True)
def _max_row(top, bottom, values, taps):
    """``max_pool_2x2`` for one row of windows, with PyTorch's rule at every tap (a NaN is taken)."""
    for ow in range(values.shape[0]):
        best = top[2 * ow]
        tap = 0
        v = top[2 * ow + 1]
        take = (v > best) | (v != v)
        best = v if take else best
        tap = 1 if take else tap
        v = bottom[2 * ow]
        take = (v > best) | (v != v)
        best = v if take else best
        tap = 2 if take else tap
        v = bottom[2 * ow + 1]
        take = (v > best) | (v != v)
        best = v if take else best
        tap = 3 if take else tap
        values[ow] = best
        taps[ow] = tap


@numba.njit(cache=True, nogil=True)
def zero_outside_2x2_windows(dx, out_h, out_w):
    """dx = 0 at the positions no 2x2 window covers: an odd width's last column, an odd height's last row
    (the 2x2 backwards write every other position)."""
    batch, channels, height, width = dx.shape
    zero = dx.dtype.type(0)
    for n in range(batch):
        for c in range(channels):
            if width > 2 * out_w:
                for h in range(2 * out_h):
                    dx[n, c, h, 2 * out_w :] = zero
            for h in range(2 * out_h, height):
                dx[n, c, h, :] = zero


@numba.njit(cache=True, nogil=True)
def max_pool_2x2_backward(grad_bits, arg, dx_bits):
    """dx = each window's gradient at its maximum's position, zero elsewhere (every position written).

    On the arrays' bits (``grad_bits``, ``dx_bits``: integer views of the float arrays, int32 for float32,
    int64 for float64): a gradient is kept or zeroed by an AND with an all-ones or all-zeros mask, which
    vectorizes on any row width; a float select here became a branch (3.4-5.6x slower on AVX2). The bits
    are copied unchanged, so inf and NaN gradients pass as they are, and a closed gate gives +0.0."""
    batch, channels, out_h, out_w = grad_bits.shape
    for n in range(batch):
        for c in range(channels):
            for oh in range(out_h):
                top = dx_bits[n, c, 2 * oh]
                bottom = dx_bits[n, c, 2 * oh + 1]
                gradients = grad_bits[n, c, oh]
                taps = arg[n, c, oh]
                # Over the input's columns, so that the stores are contiguous. One name per line: a tuple
                # assignment here (a, b = ...) kept the loop from vectorizing (4x slower).
                for w in range(2 * out_w):
                    tap = taps[w >> 1]
                    g = gradients[w >> 1]
                    column = w & 1
                    top[w] = g & -(tap == column)
                    bottom[w] = g & -(tap == column + 2)
    zero_outside_2x2_windows(dx_bits, out_h, out_w)


@numba.njit(cache=True, nogil=True)
def avg_pool_2x2_sum(x, out):
    """out = the sum of each 2x2 window at stride 2 (no padding), its taps added in row-major order."""
    batch, channels, out_h, out_w = out.shape
    for n in range(batch):
        for c in range(channels):
            for oh in range(out_h):
                top = x[n, c, 2 * oh]
                bottom = x[n, c, 2 * oh + 1]
                sums = out[n, c, oh]
                for ow in range(out_w):
                    sums[ow] = top[2 * ow] + top[2 * ow + 1] + bottom[2 * ow] + bottom[2 * ow + 1]


@numba.njit(cache=True, nogil=True)
def avg_pool_2x2_spread(grad, dx):
    """dx = each window's (divided) gradient at its four positions, zero outside the windows."""
    batch, channels, out_h, out_w = grad.shape
    for n in range(batch):
        for c in range(channels):
            for oh in range(out_h):
                top = dx[n, c, 2 * oh]
                bottom = dx[n, c, 2 * oh + 1]
                gradients = grad[n, c, oh]
                for w in range(2 * out_w):
                    g = gradients[w >> 1]
                    top[w] = g
                    bottom[w] = g
    zero_outside_2x2_windows(dx, out_h, out_w)


@numba.njit(cache=True, nogil=True)
def max_pool_backward(grad, arg, tap_rows, tap_cols, sh, sw, top, left, dx):
    """dx[h, w] += each window's gradient at its maximum, tap t at row ``tap_rows[t]`` and column
    ``tap_cols[t]`` of the window (looked up: a division per window by the kernel's width took a quarter
    of the time). The windows are visited in reverse order, so that each input position adds its gradients
    by increasing tap index, as the NumPy path does; the loop counters run forward (a loop over a
    decreasing ``range`` compiled slower)."""
    batch, channels, out_h, out_w = grad.shape
    height, width = dx.shape[2], dx.shape[3]
    for n in range(batch):
        for c in range(channels):
            gradients, taps, plane = grad[n, c], arg[n, c], dx[n, c]
            for k in range(out_h):
                oh = out_h - 1 - k
                for q in range(out_w):
                    ow = out_w - 1 - q
                    tap = taps[oh, ow]
                    h = oh * sh - top + tap_rows[tap]
                    w = ow * sw - left + tap_cols[tap]
                    if 0 <= h < height and 0 <= w < width:  # a window all in the padding routes nowhere
                        plane[h, w] += gradients[oh, ow]


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
