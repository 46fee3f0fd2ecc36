"""Whether the compiled (numba) kernels are used: numba installed (the ``fast`` extra) and ``EMBER_NUMBA``
not ``0``. numba is imported on the first call that wants a kernel, never at ``import ember``, so start-up
stays fast and code that never pools or convolves never pays for it."""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any


def compiled() -> Any:
    """The numba kernels (``_numba_kernels``), or None: numba not installed, or ``EMBER_NUMBA=0``."""
    if os.environ.get("EMBER_NUMBA", "1") == "0":
        return None
    return _load()


@functools.cache
def _load() -> Any:
    if importlib.util.find_spec("numba") is None:
        return None
    from ember.nn.functional import _numba_kernels

    return _numba_kernels
