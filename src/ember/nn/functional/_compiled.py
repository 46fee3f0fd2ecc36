"""The compiled (numba) kernels of ``ember.nn.functional``, or None where they are off
(``ember.compiled.numba_enabled``: numba not installed, or ``EMBER_NUMBA=0``). numba is imported on the
first call that wants a kernel, never at ``import ember``, so start-up stays fast and code that never
pools, convolves or normalizes never pays for it."""

from __future__ import annotations

from typing import Any

from ember.compiled import numba_enabled


def compiled() -> Any:
    """The pooling and convolution kernels (``_numba_kernels``), or None."""
    if not numba_enabled():
        return None
    from ember.nn.functional import _numba_kernels

    return _numba_kernels


def compiled_norm() -> Any:
    """Batch normalization's kernels (``_numba_norm``), or None."""
    if not numba_enabled():
        return None
    from ember.nn.functional import _numba_norm

    return _numba_norm
