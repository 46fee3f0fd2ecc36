"""Pooling on NumPy arrays without loops over pixels: one vectorized step per kernel tap.

A pooling window of kh x kw taps at stride S is, for each tap (i, j), a strided view of the (padded) input:
``x[:, :, i*D : ... : S, j*D : ... : S]``, one value per output position. Split once into its S x S stride
phases, the padded input gives every tap as a view with unit inner stride, so each step runs at
contiguous speed. Max pooling keeps a running
maximum over the taps and the tap that produced it (the first one in row-major window order on ties, as
PyTorch); the backward pass routes each upstream gradient to its tap with a mask per tap, assigning where
windows do not overlap (the common 2x2 stride 2) and adding where they do. Average pooling sums the taps
and divides by PyTorch's divisor (window cells inside the padded input, or inside the input only when
``count_include_pad=False``); its backward spreads g / divisor over the taps.

Adaptive pooling (output size fixed, windows from floor(i H / Ho) to ceil((i + 1) H / Ho)) is an ordinary
pooling when the sizes divide; otherwise average pooling is a separable linear map (two small GEMMs with
0/1 window matrices) and max pooling reduces the rows, then the columns, of each window.

With numba (``ember.compiled``), 2x2 windows at stride 2 without padding, the common case, skip the phases:
compiled loops over pairs of input rows (``_numba_kernels``) do both passes of max and average pooling,
with the same numbers as the NumPy functions here (``max_pool_numpy``, ``route_to_taps_numpy``,
``avg_pool_sum_numpy``, ``spread_to_taps_numpy``), which stay the reference; the compiled scatter routes
every other max pooling's gradient. Every other window's forward runs the NumPy functions on blocks of
samples shared among the threads (``_by_samples``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ember.compiled import compilable
from ember.nn.functional import _workspace
from ember.nn.functional._compiled import compiled
from ember.nn.functional._parallel import run_chunks, thread_count


@dataclass(frozen=True)
class PoolGeometry:
    """Sizes of one 2-d pooling: input (H, W), output (Ho, Wo), and the padded extent windows may read."""

    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int]
    out_height: int
    out_width: int
    padded_height: int  # rows of the padded input that windows read (ceil_mode may add some at the end)
    padded_width: int

    @property
    def taps(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def needs_padding(self) -> bool:
        return (self.padded_height, self.padded_width) != (self.height, self.width) or self.padding != (0, 0)

    def window_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """First input row and column of each window (negative inside the padding)."""
        rows = np.arange(self.out_height) * self.stride[0] - self.padding[0]
        cols = np.arange(self.out_width) * self.stride[1] - self.padding[1]
        return rows, cols

    @property
    def overlapping(self) -> bool:
        """Whether two windows share an input position (then their gradients add up there)."""
        return any(
            s < d * (k - 1) + 1 for k, s, d in zip(self.kernel, self.stride, self.dilation, strict=True)
        )

    @property
    def tiles_2x2(self) -> bool:
        """Whether the windows are 2x2 at stride 2 without padding (the compiled kernels' own case)."""
        return self.kernel == self.stride == (2, 2) and self.dilation == (1, 1) and not self.needs_padding

    @property
    def covers_input(self) -> bool:
        """Whether every input position lies in some window (else its gradient is zero)."""
        return (
            not self.needs_padding
            and all(
                s <= k and d == 1 for k, s, d in zip(self.kernel, self.stride, self.dilation, strict=True)
            )
            and (self.out_height - 1) * self.stride[0] + self.kernel[0] == self.height
            and (self.out_width - 1) * self.stride[1] + self.kernel[1] == self.width
        )


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size: floor (or ceil) of (size + 2P - D (F - 1) - 1) / S, plus one."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the input or its left padding
    return out


@functools.lru_cache(maxsize=256)
def geometry(
    height: int,
    width: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int],
    ceil_mode: bool,
) -> PoolGeometry:
    out_h = output_size(height, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    out_w = output_size(width, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    extent_h = (out_h - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1
    extent_w = (out_w - 1) * stride[1] + dilation[1] * (kernel[1] - 1) + 1
    return PoolGeometry(
        height,
        width,
        kernel,
        stride,
        dilation,
        padding,
        out_h,
        out_w,
        max(extent_h, height + 2 * padding[0]),
        max(extent_w, width + 2 * padding[1]),
    )


@functools.lru_cache(maxsize=256)
def _phase_plan(geo: PoolGeometry) -> tuple[tuple[int, int], tuple[tuple[int, int, slice, slice], ...]]:
    """Phase array size (Hq, Wq), and for each phase (a, b) where the input's rows and columns go."""
    (sh, sw), (kh, kw), (dh, dw) = geo.stride, geo.kernel, geo.dilation
    size_q = (
        max(-(-geo.padded_height // sh), geo.out_height + (kh - 1) * dh // sh),
        max(-(-geo.padded_width // sw), geo.out_width + (kw - 1) * dw // sw),
    )
    top, left = geo.padding
    parts = []
    for a in range(sh):
        for b in range(sw):
            y0, x0 = (a - top) % sh, (b - left) % sw
            rows, cols = len(range(y0, geo.height, sh)), len(range(x0, geo.width, sw))
            u0, v0 = (y0 + top - a) // sh, (x0 + left - b) // sw
            parts.append((a, b, slice(u0, u0 + rows), slice(v0, v0 + cols)))
    return size_q, tuple(parts)


def phases(x: np.ndarray, geo: PoolGeometry, fill: float) -> np.ndarray:
    """The padded input split by stride phase: Q[a, b, ..., u, v] = padded[..., u S + a, v S + b].

    Every tap of every window is then a view with unit inner stride, Q[a, b, ..., u0 : u0 + Ho, v0 : v0 + Wo],
    so the per-tap steps run at contiguous speed; one strided pass builds Q (a reused workspace whose
    padding keeps ``fill``). Without stride or padding Q is x itself.
    """
    sh, sw = geo.stride
    if (sh, sw) == (1, 1) and not geo.needs_padding:
        return x[None, None]
    size_q, parts = _phase_plan(geo)

    def values(phased: np.ndarray) -> list[np.ndarray]:
        return [phased[a, b, ..., rows, cols] for a, b, rows, cols in parts]

    shape = (sh, sw, *x.shape[:-2], *size_q)
    q = _workspace.zeroed_grid("pool-phases", geo, shape, x.dtype, values, fill)
    top, left = geo.padding
    for (a, b, _, _), target in zip(parts, values(q), strict=True):
        target[...] = x[..., (a - top) % sh :: sh, (b - left) % sw :: sw]
    return q


def from_phases(q: np.ndarray, geo: PoolGeometry) -> np.ndarray:
    """The input-shaped array whose padded phases are ``q`` (the inverse of ``phases``, dropping padding)."""
    sh, sw = geo.stride
    if (sh, sw) == (1, 1) and not geo.needs_padding:
        return q[0, 0]
    _, parts = _phase_plan(geo)
    top, left = geo.padding
    out = np.empty((*q.shape[2:-2], geo.height, geo.width), q.dtype)
    for a, b, rows, cols in parts:
        out[..., (a - top) % sh :: sh, (b - left) % sw :: sw] = q[a, b, ..., rows, cols]
    return out


def tap(q: np.ndarray, geo: PoolGeometry, t: int) -> np.ndarray:
    """The values of tap t (row-major in the window) for every output position: a view of the phases."""
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    i, j = divmod(t, geo.kernel[1])
    (a, u), (b, v) = divmod(i * dh, sh)[::-1], divmod(j * dw, sw)[::-1]
    return q[a, b, ..., u : u + geo.out_height, v : v + geo.out_width]


def tap_dtype(taps: int) -> type[np.integer]:
    return np.uint8 if taps <= 255 else np.int32


def _spread(shares: Any, geo: PoolGeometry, input_shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Backward of a pooling: ``shares(t)`` is what tap t of every window receives; sum them per input."""
    sh, sw = geo.stride
    size_q, _ = _phase_plan(geo) if (sh, sw) != (1, 1) or geo.needs_padding else ((geo.height, geo.width), ())
    shape = (sh, sw, *input_shape[:-2], *size_q)
    overlapping = geo.overlapping
    # Without overlap every tap view is written once (assigned); positions in no window stay zero.
    dq = np.empty(shape, dtype) if geo.covers_input and not overlapping else np.zeros(shape, dtype)
    for t in range(geo.taps):
        target = tap(dq, geo, t)
        if overlapping:
            np.add(target, shares(t), out=target)
        else:
            np.copyto(target, shares(t))
    return from_phases(dq, geo)


# ------------------------------------------------------------------------------------------------------
# Max pooling


def _as_4d(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).reshape((1,) * (4 - array.ndim) + array.shape)


@functools.lru_cache(maxsize=256)
def _scatter_arguments(geo: PoolGeometry) -> tuple[Any, ...]:
    """The compiled max-pool backward's arguments after the arrays: each tap's row and column offset in
    its window (read-only, shared by the calls), the stride and the padding."""
    taps = np.arange(geo.taps)
    rows, cols = (taps // geo.kernel[1]) * geo.dilation[0], (taps % geo.kernel[1]) * geo.dilation[1]
    rows.flags.writeable = cols.flags.writeable = False
    return (rows, cols, *geo.stride, *geo.padding)


def _for_2x2_kernels(geo: PoolGeometry, array: np.ndarray) -> np.ndarray | None:
    """``array`` as a C-contiguous (N, C, H, W) where the compiled 2x2 kernels take it (2x2 windows at stride
    2 without padding, numba on, float32 or float64), else None.

    They run on the calling thread at any thread count: shared among two threads (blocks of samples,
    ``run_chunks``) they took longer than on one, 0.22 -> 0.30 ms forward and 0.27 -> 0.47 backward on
    LeNet-5's 128x6x28x28, and no better on VGG's 128x64x32x32 (wall time, a busy machine)."""
    if not geo.tiles_2x2:
        return None
    array4 = _as_4d(array)
    return array4 if compilable(array4) else None


#: Outputs (N C Ho Wo) from which ``_by_samples`` shares NumPy's pooling among the threads. Two threads,
#: AVX2: 3x3 windows at stride 2 over 128x64x8x8 (131,072 outputs) 9.1 -> 5.8-6.2 ms in blocks; ResNet-20's
#: global average over 128x64x8x8 (8,192 outputs, 64 taps) 1.7 -> 4.2 ms, each tap's pass too short.
BLOCKS_FROM = 1 << 16


def _by_samples(kernel: Any, x: np.ndarray, geo: PoolGeometry) -> Any:
    """``kernel(x, geo)`` (a NumPy path: an array, or a tuple of them, per sample) run on blocks of samples
    shared among the threads (``run_chunks``; each thread's workspace is its own), the blocks' results
    joined. NumPy's per-tap passes run on one thread each; two blocks per thread also keep a block's phases
    in cache. The numbers are the same, as each sample's windows are its own. 3x3 windows at stride 2 on
    128x64x32x32, two threads: 57-81 -> 27-36 ms (``docs/performance.md``, "Pooling"). Below
    ``BLOCKS_FROM`` outputs the per-tap passes are too short to share: the whole batch in one call."""
    count, threads = (x.shape[0] if x.ndim == 4 else 1), thread_count()
    outputs = math.prod(x.shape[:-2]) * geo.out_height * geo.out_width
    if threads <= 1 or count < 2 or outputs < BLOCKS_FROM:
        return kernel(x, geo)
    results = run_chunks(
        _sample_blocks(count, 2 * threads), lambda block: kernel(x[block[0] : block[1]], geo)
    )
    if isinstance(results[0], tuple):
        return tuple(np.concatenate([r[i] for r in results]) for i in range(len(results[0])))
    return np.concatenate(results)


def _sample_blocks(count: int, pieces: int) -> list[tuple[int, int]]:
    """``count`` samples as ``pieces`` (at most ``count``) consecutive (first, last) blocks of near-equal
    size."""
    pieces = min(count, pieces)
    return [(count * k // pieces, count * (k + 1) // pieces) for k in range(pieces)]


def max_pool(x: np.ndarray, geo: PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(maximum over each window, its tap index); ties go to the first tap in row-major order, a NaN wins
    (the last one), as PyTorch. 2x2 windows at stride 2 take the compiled kernel where it runs (LeNet-5's
    128x6x28x28: 0.5 -> 0.2 ms), every other window (and the reference) ``max_pool_numpy``, on blocks of
    samples shared among the threads."""
    x4 = _for_2x2_kernels(geo, x)
    if x4 is None:
        return _by_samples(max_pool_numpy, x, geo)
    kernels = compiled()
    out = np.empty((*x.shape[:-2], geo.out_height, geo.out_width), x.dtype)
    arg = np.empty(out.shape, tap_dtype(geo.taps))
    shape4 = x4.shape[:2] + out.shape[-2:]
    kernels.max_pool_2x2(x4, out.reshape(shape4), arg.reshape(shape4))
    return out, arg


@_workspace.kernel
def max_pool_numpy(x: np.ndarray, geo: PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """``max_pool`` in NumPy, one branch-free step per tap over the stride phases."""
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    source = phases(x, geo, lowest)
    out = tap(source, geo, 0).copy()
    arg = np.zeros(out.shape, dtype=tap_dtype(geo.taps))
    larger = np.empty(out.shape, dtype=bool)
    step = np.empty(out.shape, dtype=arg.dtype)
    for t in range(1, geo.taps):
        values = tap(source, geo, t)
        np.greater(values, out, out=larger)
        # arg = t where larger, without a masked write (NumPy's masked paths are ~30x slower):
        # arg += larger * (t - arg), exact in integers.
        np.subtract(arg.dtype.type(t), arg, out=step)
        np.multiply(step, larger, out=step)
        np.add(arg, step, out=arg)
        np.maximum(out, values, out=out)  # propagates NaN, as PyTorch
    _match_pytorch_on_special_values(source, geo, out, arg)
    return out, arg


def _match_pytorch_on_special_values(
    source: np.ndarray, geo: PoolGeometry, out: np.ndarray, arg: np.ndarray
) -> None:
    """PyTorch's picks where no value is strictly largest: a NaN wins (the last one in the window), and a
    window whose maximum is -inf points at its first tap inside the input rather than at the padding."""
    if np.isnan(out).any():
        for t in range(geo.taps):
            np.copyto(arg, t, where=np.isnan(tap(source, geo, t)))
    if geo.needs_padding:
        lowest = np.isneginf(out)
        if lowest.any():
            # ceil(-start / d) taps skip the padding
            rows, cols = (
                np.where(start < 0, -(start // d), 0)
                for start, d in zip(geo.window_starts(), geo.dilation, strict=True)
            )
            first_tap = rows[:, None] * geo.kernel[1] + cols[None, :]
            np.copyto(arg, np.broadcast_to(first_tap, arg.shape).astype(arg.dtype), where=lowest)


def route_to_taps(
    grad: np.ndarray, arg: np.ndarray, geo: PoolGeometry, input_shape: tuple[int, ...]
) -> np.ndarray:
    """Max pooling's backward: each upstream gradient goes to the input position of its window's maximum."""
    kernels, arg4 = compiled(), _as_4d(arg)
    grad4 = _for_2x2_kernels(geo, grad)
    if grad4 is not None:  # LeNet-5's 128x6x28x28: 0.8 ms for the scatter below, 0.25 for this
        dx = np.empty(input_shape, grad.dtype)  # every position is written
        bits = np.dtype(f"i{grad.itemsize}")  # the kernel works on the floats' bits
        dx4 = dx.reshape(grad4.shape[:2] + dx.shape[-2:])
        kernels.max_pool_2x2_backward(grad4.view(bits), arg4, dx4.view(bits))
        return dx
    grad4 = _as_4d(grad)
    if kernels is None or not compilable(grad4):
        return route_to_taps_numpy(grad, arg, geo, input_shape)
    dx = np.zeros(input_shape, grad.dtype)  # also without overlap: 4.4 -> 0.8 ms against NumPy's
    dx4 = dx.reshape(grad4.shape[:2] + dx.shape[-2:])
    arguments = _scatter_arguments(geo)
    # a few blocks of samples per thread, not one call per sample
    samples = _sample_blocks(grad4.shape[0], 4 * thread_count())

    def body(samples: tuple[int, int]) -> None:
        first, last = samples
        kernels.max_pool_backward(grad4[first:last], arg4[first:last], *arguments, dx4[first:last])

    run_chunks(samples, body)
    return dx


def route_to_taps_numpy(
    grad: np.ndarray, arg: np.ndarray, geo: PoolGeometry, input_shape: tuple[int, ...]
) -> np.ndarray:
    """``route_to_taps`` in NumPy: per tap, the gradients whose maximum is that tap, added in place."""
    mask = np.empty(arg.shape, dtype=bool)
    share = np.empty(grad.shape, dtype=grad.dtype)
    finite = bool(np.isfinite(grad).all())  # grad * mask would turn inf into NaN at the other taps

    def shares(t: int) -> np.ndarray:
        np.equal(arg, t, out=mask)
        if finite:
            return np.multiply(grad, mask, out=share)
        share[...] = np.where(mask, grad, 0)
        return share

    return _spread(shares, geo, input_shape, grad.dtype)


def flat_indices(arg: np.ndarray, geo: PoolGeometry) -> np.ndarray:
    """PyTorch's indices: the position of each maximum in its (H, W) input plane, as h * W + w (int64)."""
    (dh, dw), (row0, col0) = geo.dilation, geo.window_starts()
    i, j = np.divmod(arg.astype(np.int64), geo.kernel[1])
    return (row0[:, None] + i * dh) * geo.width + col0 + j * dw


# ------------------------------------------------------------------------------------------------------
# Average pooling


def average_divisor(geo: PoolGeometry, count_include_pad: bool) -> np.ndarray:
    """(Ho, Wo) window sizes as PyTorch divides by them (int64)."""
    sizes = []
    for start, size, k, p in zip(
        geo.window_starts(), (geo.height, geo.width), geo.kernel, geo.padding, strict=True
    ):
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        sizes.append(end - start)
    return sizes[0][:, None] * sizes[1][None, :]


def avg_pool_sum(x: np.ndarray, geo: PoolGeometry) -> np.ndarray:
    """Sum of each window (taps added in row-major order, as PyTorch accumulates); 2x2 windows at stride 2
    take the compiled kernel where it runs, every other window (and the reference) ``avg_pool_sum_numpy``,
    on blocks of samples shared among the threads."""
    x4 = _for_2x2_kernels(geo, x)
    if x4 is None:
        return _by_samples(avg_pool_sum_numpy, x, geo)
    kernels = compiled()
    out = np.empty((*x.shape[:-2], geo.out_height, geo.out_width), x.dtype)
    kernels.avg_pool_2x2_sum(x4, out.reshape(x4.shape[:2] + out.shape[-2:]))
    return out


@_workspace.kernel
def avg_pool_sum_numpy(x: np.ndarray, geo: PoolGeometry) -> np.ndarray:
    """``avg_pool_sum`` in NumPy: the taps of the stride phases added one by one."""
    source = phases(x, geo, 0.0)
    out = tap(source, geo, 0).copy()
    with np.errstate(invalid="ignore"):  # inf + -inf in one window is NaN, silently (as in PyTorch)
        for t in range(1, geo.taps):
            np.add(out, tap(source, geo, t), out=out)
    return out


def spread_to_taps(grad: np.ndarray, geo: PoolGeometry, input_shape: tuple[int, ...]) -> np.ndarray:
    """Average pooling's backward (grad already divided): every tap of a window receives it (2x2 windows at
    stride 2 compiled where that runs, as the forward)."""
    grad4 = _for_2x2_kernels(geo, grad)
    if grad4 is None:
        return spread_to_taps_numpy(grad, geo, input_shape)
    kernels = compiled()
    dx = np.empty(input_shape, grad.dtype)
    kernels.avg_pool_2x2_spread(grad4, dx.reshape(grad4.shape[:2] + dx.shape[-2:]))
    return dx


def spread_to_taps_numpy(grad: np.ndarray, geo: PoolGeometry, input_shape: tuple[int, ...]) -> np.ndarray:
    """``spread_to_taps`` in NumPy, tap by tap."""
    return _spread(lambda t: grad, geo, input_shape, grad.dtype)


# ------------------------------------------------------------------------------------------------------
# Adaptive pooling


def adaptive_windows(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each adaptive window: floor(i size / out) to ceil((i + 1) size / out)."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def window_matrix(start: np.ndarray, end: np.ndarray, size: int, dtype: np.dtype) -> np.ndarray:
    """(len(start), size) 0/1 matrix whose row i marks the window [start[i], end[i])."""
    positions = np.arange(size)
    return ((positions >= start[:, None]) & (positions < end[:, None])).astype(dtype)


def covering_windows(start: np.ndarray, end: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``size`` positions, the range [first, last) of the windows [start, end) that cover it
    (windows in order, starts and ends non-decreasing): the adjoint of summing over windows."""
    positions = np.arange(size)
    return np.searchsorted(end, positions, side="right"), np.searchsorted(start, positions, side="right")


def adaptive_max(x: np.ndarray, out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Maximum over each adaptive window and its flat index h * W + w; reduces columns, then rows, so that
    ties go to the first maximum in row-major order."""
    height, width = x.shape[-2:]
    out_h, out_w = out_size
    col_start, col_end = adaptive_windows(width, out_w)
    row_start, row_end = adaptive_windows(height, out_h)
    column_max = np.empty((*x.shape[:-1], out_w), x.dtype)
    column_arg = np.empty((*x.shape[:-1], out_w), np.int64)
    for k in range(out_w):
        window = x[..., col_start[k] : col_end[k]]
        arg = window.argmax(axis=-1)
        column_arg[..., k] = arg + col_start[k]
        column_max[..., k] = np.take_along_axis(window, arg[..., None], axis=-1)[..., 0]
    values = np.empty((*x.shape[:-2], out_h, out_w), x.dtype)
    indices = np.empty((*x.shape[:-2], out_h, out_w), np.int64)
    for k in range(out_h):
        window = column_max[..., row_start[k] : row_end[k], :]
        arg = window.argmax(axis=-2)
        rows = arg + row_start[k]
        values[..., k, :] = np.take_along_axis(window, arg[..., None, :], axis=-2)[..., 0, :]
        columns = np.take_along_axis(column_arg, rows[..., None, :], axis=-2)[..., 0, :]
        indices[..., k, :] = rows * width + columns
    # NaN wins a window, as in PyTorch (argmax already points at the first NaN of each row).
    return values, indices


def scatter_to_planes(values: np.ndarray, indices: np.ndarray, plane: tuple[int, int]) -> np.ndarray:
    """Zeros of shape (..., H, W) with values added at the flat per-plane indices (repeats accumulate)."""
    lead = values.shape[:-2]
    size = plane[0] * plane[1]
    count = math.prod(lead)
    offsets = (np.arange(count, dtype=np.int64) * size).reshape(*lead, 1, 1)
    totals = np.bincount((indices + offsets).ravel(), weights=values.ravel(), minlength=count * size)
    return totals.astype(values.dtype).reshape(*lead, *plane)
