"""Reusable scratch arrays for the convolution and pooling kernels.

A freshly allocated large array costs about twice a reused one (the kernel zeroes every new page on first
touch; measured in ``docs/performance.md``). The kernels' intermediate arrays (the im2col chunk, the padded
channel-major grids, the GEMM output before it is copied into the result) never leave a call, so they are
kept here between calls, keyed by their role and shape, one set per thread.

Grids are keyed by their full geometry, not only their shape: a grid's padding gaps are zero when it is
created and every kernel writes only the positions that hold values, so the gaps stay zero and the next
call with the same geometry can skip zeroing them. Nothing here is ever returned to the user or saved for
backward.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import numpy as np

# Enough for the distinct layer shapes of a ResNet or VGG forward and backward; the least recently used
# arrays are dropped beyond either bound (memory is bounded, correctness never depends on a hit). An array
# larger than half the byte bound is not kept at all.
MAX_ENTRIES = 48
MAX_BYTES = 1 << 29

_local = threading.local()


def _cache() -> OrderedDict[Hashable, np.ndarray]:
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = OrderedDict()
    return cache


def scratch(role: Hashable, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialized array of ``shape`` for ``role``; the same array again on the next call."""
    return _get(("scratch", role, shape, np.dtype(dtype).str), shape, dtype, None)


def zeroed_grid(
    role: Hashable, geometry: Hashable, shape: tuple[int, ...], dtype: Any, fill: float = 0.0
) -> np.ndarray:
    """An array that was ``fill`` when created and whose caller only ever writes its value positions."""
    key = ("grid", role, geometry, shape, np.dtype(dtype).str, fill)
    return _get(key, shape, dtype, fill)


def _get(key: Hashable, shape: tuple[int, ...], dtype: Any, fill: float | None) -> np.ndarray:
    cache = _cache()
    array = cache.get(key)
    if array is not None:
        cache.move_to_end(key)
        return array
    if fill is None:
        array = np.empty(shape, dtype)
    elif fill == 0:
        array = np.zeros(shape, dtype)
    else:
        array = np.full(shape, fill, dtype)
    if array.nbytes <= MAX_BYTES // 2:
        cache[key] = array
        total = sum(a.nbytes for a in cache.values())
        while len(cache) > MAX_ENTRIES or total > MAX_BYTES:
            _, dropped = cache.popitem(last=False)
            total -= dropped.nbytes
    return array


def clear() -> None:
    """Free every cached array of the calling thread."""
    _cache().clear()
