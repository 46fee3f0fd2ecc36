"""Compiled kernels (numba) for batch normalization's passes over an (N, C, L) array.

NumPy needs a pass over memory per operation: the statistics took three (the sum, then the centered
squares of cache-sized slices and their sum) and the backward's per-channel sums two more than the values
read. Each loop here reads its arrays once, per sample and channel row:

- ``shifted_moments``: sum (x - k) and sum (x - k)^2 per channel in one pass, k a value of the channel
  (the "shifted data" variance, Chan, Golub and LeVeque 1983: var = E[(x - k)^2] - E[x - k]^2 loses no
  accuracy to cancellation while k is near the mean; any of the channel's values is, at the scale of its
  spread). Accumulated in float64.
- ``centered_moments``: sum dy and sum dy (x - mean) per channel (the backward's dbeta and dgamma / invstd).
- ``affine``, ``affine2``: out = a x + b and out = a dy + b x + c, with per-channel coefficients.

``fastmath={"reassoc"}`` lets the compiler keep several partial sums (vectorized) instead of one chain of
dependent additions; nothing else of IEEE arithmetic is relaxed (NaN and inf propagate). The sums differ
from NumPy's twin (``normalization.py``, the reference the tests compare against) only in rounding: they
are float64 from the first addition on, where NumPy's are float32 along each row (BLAS). Serial and free of
the GIL; the callers share chunks of samples among threads (``_parallel``) and add the chunks' partial
sums in chunk order, so a result does not depend on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def shifted_moments(x3, shift, out):
    """out[0, c] = sum over n, l of (x[n, c, l] - shift[c]); out[1, c] = sum of its squares (float64)."""
    samples, channels, length = x3.shape
    for n in range(samples):
        for c in range(channels):
            row = x3[n, c]
            k = np.float64(shift[c])
            total = 0.0
            squares = 0.0
            for i in range(length):
                d = np.float64(row[i]) - k
                total += d
                squares += d * d
            out[0, c] += total
            out[1, c] += squares


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def centered_moments(x3, mean, dy, out):
    """out[0, c] = sum over n, l of dy[n, c, l]; out[1, c] = sum of dy (x - mean[c]) (float64)."""
    samples, channels, length = x3.shape
    for n in range(samples):
        for c in range(channels):
            row = x3[n, c]
            grad = dy[n, c]
            m = mean[c]
            total = 0.0
            dot = 0.0
            for i in range(length):
                g = np.float64(grad[i])
                total += g
                dot += g * (np.float64(row[i]) - m)
            out[0, c] += total
            out[1, c] += dot


@numba.njit(cache=True, nogil=True)
def affine(x3, a, b, out):
    """out[n, c, l] = x[n, c, l] a[c] + b[c] (a and b in the arrays' type)."""
    samples, channels, length = x3.shape
    for n in range(samples):
        for c in range(channels):
            row = x3[n, c]
            target = out[n, c]
            scale = a[c]
            shift = b[c]
            for i in range(length):
                target[i] = row[i] * scale + shift


@numba.njit(cache=True, nogil=True)
def affine2(dy, a, x3, b, c_shift, out):
    """out[n, c, l] = dy[n, c, l] a[c] + x[n, c, l] b[c] + c_shift[c] (coefficients in the arrays' type)."""
    samples, channels, length = x3.shape
    for n in range(samples):
        for c in range(channels):
            row = x3[n, c]
            grad = dy[n, c]
            target = out[n, c]
            ga = a[c]
            xb = b[c]
            shift = c_shift[c]
            for i in range(length):
                target[i] = grad[i] * ga + row[i] * xb + shift
