"""Reusable scratch arrays for the convolution and pooling kernels.

A freshly allocated large array costs about twice a reused one (the kernel zeroes every new page on first
touch; measured in ``docs/performance.md``). The kernels' intermediate arrays (the im2col chunk, the padded
channel-major grids, the GEMM output before it is copied into the result) never leave a call, so they are
kept here between calls, one buffer per *role* (``"input"`` grid, ``"columns"``, ...) and thread, as large as
the largest request so far: each call views the buffer with the shape it needs. So the memory held is the
largest layer's, not the sum over every layer shape of the network (VGG-style's training step: 329 -> 105
MiB, with roles never in use together sharing a buffer, ``SHARED_BUFFERS``). Two arrays of one buffer are
never in use at once (each kernel takes each role once, and returns before the next).

A grid's padding gaps must hold ``fill`` (zero, or -inf for max pooling): the buffer is filled when it
holds another grid layout (geometry, shape, dtype, fill) than the one asked for, and every kernel writes
only the positions that hold values, so the gaps stay filled and the next call with the same layout skips
filling them (a fill costs about a quarter of the copy into the grid). Nothing here is ever returned to the
user or saved for backward.

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

# The buffers of a thread are bounded in total (the least recently used role's is dropped beyond it); an
# array larger than half the bound is not kept at all (memory is bounded, correctness never depends on a hit).
MAX_BYTES = 1 << 29

CHECK_GAPS = os.environ.get("EMBER_CHECK_WORKSPACE", "0") not in ("", "0")

ValuePositions = Callable[[np.ndarray], Iterable[np.ndarray]]  # a grid -> views of where values go
F = TypeVar("F", bound=Callable[..., Any])

_local = threading.local()


# Roles whose arrays are never in use at once share one buffer: a pooling's phases and a convolution's
# input grid (separate kernels), the transposed convolution's gradient grid and col2im's grid (the two ways
# to an input gradient), the output gradient's positions and the channel-major product (the convolution's
# backward makes the positions after the product is copied out).
SHARED_BUFFERS: dict[Hashable, Hashable] = {
    "pool-phases": "input",
    "col2im": "output",
    "positions": "channel-major-product",
}


def _buffers() -> OrderedDict[Hashable, np.ndarray]:
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = OrderedDict()  # buffer -> flat bytes
        _local.layouts = {}  # buffer -> the grid layout whose gaps it holds
        _local.grids = {}  # buffer -> (role, fill, value positions, the grid) for the check
    return buffers


def scratch(role: Hashable, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialized array of ``shape`` for ``role``: the role's buffer, reused by the next call."""
    key = SHARED_BUFFERS.get(role, role)
    array = _view(key, shape, np.dtype(dtype))
    if array is None:
        return np.empty(shape, dtype)
    _local.layouts.pop(key, None)  # no longer a grid: its gaps will be written
    _local.grids.pop(key, None)
    return array


def zeroed_grid(
    role: Hashable,
    geometry: Hashable,
    shape: tuple[int, ...],
    dtype: Any,
    values: ValuePositions,
    fill: float = 0.0,
) -> np.ndarray:
    """An array that holds ``fill`` except where its callers write, which is only ever the positions that
    ``values(array)`` views; everywhere else (the gaps) it stays ``fill``."""
    key, dtype = SHARED_BUFFERS.get(role, role), np.dtype(dtype)
    layout = (role, geometry, shape, dtype.str, fill)
    array = _view(key, shape, dtype)
    if array is None:  # too large to keep
        return np.full(shape, fill, dtype)
    if _local.layouts.get(key) != layout:
        array.fill(fill)
        _local.layouts[key] = layout
    if CHECK_GAPS:
        _local.grids[key] = (role, fill, values, array)
    return array


def _view(key: Hashable, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray | None:
    """``shape`` of ``dtype`` at the start of the role's buffer (grown if too small), or None if too large."""
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes > MAX_BYTES // 2:
        return None
    buffers = _buffers()
    buffer = buffers.get(key)
    if buffer is None or buffer.nbytes < nbytes:
        buffers.pop(key, None)
        _local.layouts.pop(key, None)
        _local.grids.pop(key, None)
        buffer = buffers[key] = np.empty(nbytes, np.uint8)
        total = held_bytes()
        while total > MAX_BYTES:
            dropped_key, dropped = buffers.popitem(last=False)
            _local.layouts.pop(dropped_key, None)
            _local.grids.pop(dropped_key, None)
            total -= dropped.nbytes
    else:
        buffers.move_to_end(key)
    return buffer[:nbytes].view(dtype).reshape(shape)


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
    """Raise if a kept grid of the calling thread has a gap that no longer holds its fill."""
    _buffers()
    for role, fill, values, array in _local.grids.values():  # a dropped buffer's grid is dropped too
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


def held_bytes() -> int:
    """Bytes the calling thread's buffers hold (the workspace's share of a training step's memory)."""
    return sum(buffer.nbytes for buffer in _buffers().values())


def clear() -> None:
    """Free every kept buffer of the calling thread."""
    _buffers().clear()
    _local.layouts.clear()
    _local.grids.clear()
