"""How many threads Ember computes with: ``set_num_threads`` and ``get_num_threads`` (PyTorch's names).

Ember's parallel work is BLAS's (NumPy's matrix products) and the convolution kernels' chunks, which run on
as many Python threads as BLAS is allowed (``ember.nn.functional._parallel``). So the one number is BLAS's
thread count: ``set_num_threads(n)`` sets it through ``threadpoolctl`` (the ``fast`` extra), for the whole
process, and the kernels follow. Without ``threadpoolctl`` Ember cannot change BLAS's threads once NumPy is
loaded (set ``OPENBLAS_NUM_THREADS`` before starting Python instead); the number is then only recorded, and
the kernels run on the calling thread. ``EMBER_NUM_THREADS`` overrides both for the kernels (1 keeps them
on the calling thread).

Importing this module (``import ember`` does it first) also tells OpenBLAS to put its idle worker threads to
sleep at once: by default each keeps spinning for 2**28 cycles (~0.1 s) after every call, holding a core
that oneDNN's OpenMP threads or the kernels' chunk threads then wait for (LeNet-5's step at 2 threads took
24 ms instead of 13; see ``docs/performance.md``). Ember sets ``OPENBLAS_THREAD_TIMEOUT=4`` unless the user
set it. OpenBLAS reads it when NumPy loads it; where NumPy was imported first, Ember has OpenBLAS read its
environment again and restart its workers (``openblas_read_env``, then ``blas_thread_shutdown_``, the step
OpenBLAS itself takes before every ``fork``), through ``threadpoolctl``'s handle on the library. Without
``threadpoolctl``, or with a BLAS other than OpenBLAS, that second way is not taken.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

#: OpenBLAS's idle-thread timeout, log2 of the cycles a worker spins before sleeping (4, its minimum).
IDLE_BLAS_TIMEOUT = "4"

_NUMPY_FIRST = "numpy" in sys.modules  # BLAS already loaded: it has read its environment (see above)
_TIMEOUT_CHOSEN = "OPENBLAS_THREAD_TIMEOUT" in os.environ  # by the user: theirs is kept
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", IDLE_BLAS_TIMEOUT)

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


def _reread_blas_timeout() -> None:
    """Where NumPy loaded OpenBLAS before ``import ember``: OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` again
    and restarts its idle workers, which then sleep at once (see above). Their next call starts them."""
    for lib in blas_libraries():
        library = getattr(lib, "dynlib", None)
        if lib.internal_api != "openblas" or library is None:
            continue
        try:
            read_env, shutdown = library.openblas_read_env, library.blas_thread_shutdown_
        except AttributeError:  # an OpenBLAS without them: left as it is
            continue
        read_env()
        shutdown()


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


if _NUMPY_FIRST and not _TIMEOUT_CHOSEN:
    _reread_blas_timeout()
