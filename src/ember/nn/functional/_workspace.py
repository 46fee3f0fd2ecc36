"""Reusable scratch arrays for the convolution and pooling kernels.

A freshly allocated large array costs about twice a reused one (the kernel zeroes every new page on first
touch; measured in ``docs/performance.md``). The kernels' intermediate arrays (the im2col chunk, the padded
channel-major grids, the GEMM output before it is copied into the result) never leave a call, so they are
kept here between calls, keyed by their role and shape, one set per thread.

Grids are keyed by their full geometry, not only their shape: a grid's padding gaps are zero when it is
created and every kernel writes only the positions that hold values, so the gaps stay zero and the next
call with the same geometry can skip zeroing them. Nothing here is ever returned to the user or saved for
backward.

That rule is checked, not only stated: with ``EMBER_CHECK_WORKSPACE=1`` (or ``CHECK_GAPS = True``, as the
tests of the layers set it) every kernel that uses grids (``@kernel``) verifies after it returns that the
gaps of every grid handed out since the check was on still hold their fill, and raises naming the grid.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

import numpy as np

# Enough for the distinct layer shapes of a ResNet or VGG forward and backward; the least recently used
# arrays are dropped beyond either bound (memory is bounded, correctness never depends on a hit). An array
# larger than half the byte bound is not kept at all.
MAX_ENTRIES = 48
MAX_BYTES = 1 << 29

CHECK_GAPS = os.environ.get("EMBER_CHECK_WORKSPACE", "0") not in ("", "0")

ValuePositions = Callable[[np.ndarray], Iterable[np.ndarray]]  # a grid -> views of where values go
F = TypeVar("F", bound=Callable[..., Any])

_local = threading.local()


def _cache() -> OrderedDict[Hashable, np.ndarray]:
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = OrderedDict()
        _local.grids = {}  # key -> (role, fill, value positions) of each cached grid
    return cache


def scratch(role: Hashable, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialized array of ``shape`` for ``role``; the same array again on the next call."""
    return _get(("scratch", role, shape, np.dtype(dtype).str), shape, dtype, None)


def zeroed_grid(
    role: Hashable,
    geometry: Hashable,
    shape: tuple[int, ...],
    dtype: Any,
    values: ValuePositions,
    fill: float = 0.0,
) -> np.ndarray:
    """An array that was ``fill`` when created and whose callers only ever write the positions that
    ``values(array)`` views; everywhere else (the gaps) it stays ``fill``."""
    key = ("grid", role, geometry, shape, np.dtype(dtype).str, fill)
    array = _get(key, shape, dtype, fill)
    if CHECK_GAPS and key in _cache():  # the check looks at the grids kept for reuse
        _local.grids[key] = (role, fill, values)
    return array


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
            dropped_key, dropped = cache.popitem(last=False)
            _local.grids.pop(dropped_key, None)
            total -= dropped.nbytes
    return array


def kernel(function: F) -> F:
    """Mark a kernel that writes grids: with ``CHECK_GAPS`` on, check every grid's gaps after it returns."""

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if CHECK_GAPS:
            check_gaps(function.__qualname__)
        return result

    return checked  # type: ignore[return-value]


def check_gaps(after: str = "") -> None:
    """Raise if a cached grid of the calling thread has a gap that no longer holds its fill."""
    cache = _cache()
    for key, (role, fill, values) in _local.grids.items():
        array = cache[key]  # a grid dropped from the cache is dropped from grids too
        gaps = np.ones(array.shape, dtype=bool)
        for view in values(gaps):
            view[...] = False
        wrong = np.count_nonzero(gaps & (array != fill))
        if wrong:
            raise AssertionError(
                f"workspace: {wrong} gap position(s) of the {role!r} grid {array.shape} no longer hold "
                f"{fill} after {after or 'a kernel'}; a kernel wrote outside the value positions, and the "
                "next call with the same geometry would read those values as padding."
            )


def clear() -> None:
    """Free every cached array of the calling thread."""
    _cache().clear()
    _local.grids.clear()
