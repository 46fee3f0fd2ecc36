"""How many threads Ember computes with: ``set_num_threads`` and ``get_num_threads`` (PyTorch's names).

Ember's parallel work is BLAS's (NumPy's matrix products) and the convolution kernels' chunks, which run on
as many Python threads as BLAS is allowed (``ember.nn.functional._parallel``). So the one number is BLAS's
thread count: ``set_num_threads(n)`` sets it through ``threadpoolctl`` (the ``fast`` extra), for the whole
process, and the kernels follow. Without ``threadpoolctl`` Ember cannot change BLAS's threads once NumPy is
loaded (set ``OPENBLAS_NUM_THREADS`` before starting Python instead); the number is then only recorded, and
the kernels run on the calling thread. ``EMBER_NUM_THREADS`` overrides both for the kernels (1 keeps them
on the calling thread).
"""

from __future__ import annotations

import functools
import os
from typing import Any

_chosen: int | None = None  # set_num_threads's number, once called


@functools.cache
def blas_libraries() -> tuple[Any, ...]:
    """threadpoolctl's handles on the BLAS libraries NumPy uses (none without threadpoolctl); found once,
    on first use, not at import."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return ()
    return tuple(lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas")


def set_num_threads(threads: int) -> None:
    """Compute with ``threads`` threads: BLAS's count (with threadpoolctl) and the kernels' (see above)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(
            f"set_num_threads: the number of threads must be a positive integer, got {threads!r}"
        )
    global _chosen
    _chosen = threads
    for lib in blas_libraries():
        lib.set_num_threads(threads)


def get_num_threads() -> int:
    """The threads Ember's kernels compute with: ``EMBER_NUM_THREADS`` if set, else the number set, else
    BLAS's count (1 without threadpoolctl, whose absence keeps the kernels on one thread)."""
    forced = os.environ.get("EMBER_NUM_THREADS")
    if forced:
        return max(1, int(forced))
    if _chosen is not None:
        return _chosen
    blas = blas_libraries()
    if not blas:
        return 1
    return max(1, min(lib.get_num_threads() for lib in blas))
