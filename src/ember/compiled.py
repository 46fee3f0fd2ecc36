"""Whether Ember's optional compiled kernels (numba, the ``fast`` extra) are used: numba installed and
``EMBER_NUMBA`` not ``0``. Each package keeps its kernels in a module of its own that imports numba
(``ember.ops._numba_elementwise``, ``ember.nn.functional._numba_kernels``, ...), imported on the first call
that wants one, never at ``import ember``; every kernel has a NumPy twin, the reference its tests compare
against."""

from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np


def numba_enabled() -> bool:
    """True where the compiled kernels run: numba installed and ``EMBER_NUMBA`` not ``0`` (read each call,
    so a test can switch it)."""
    return os.environ.get("EMBER_NUMBA", "1") != "0" and numba_installed()


def compilable(*arrays: np.ndarray) -> bool:
    """Whether the compiled kernels take these arrays: numba on, and all of them non-empty, C-contiguous
    and of one float type of 32 or 64 bits (their loops are compiled for those; anything else takes the
    NumPy twin)."""
    first = arrays[0]
    if first.size == 0 or first.dtype not in (np.float32, np.float64):
        return False
    return all(a.dtype == first.dtype and a.flags.c_contiguous for a in arrays) and numba_enabled()


@functools.cache
def numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None
