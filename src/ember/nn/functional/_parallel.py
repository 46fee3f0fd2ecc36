"""Running a kernel's chunks on several threads.

The convolution kernels work chunk by chunk (copy a block of columns, one GEMM). Left to itself, a
multi-threaded BLAS parallelizes each GEMM and leaves the copies on one core, and it synchronizes its
threads once per call: with many cache-sized calls that is both slower and fragile on a busy machine
(measured in ``docs/performance.md``). So when BLAS runs with T > 1 threads, the chunks are shared among T
Python threads instead (NumPy releases the GIL in its copies and in BLAS calls), with BLAS set to one
thread meanwhile; the thread budget stays the one the user gave BLAS (``threadpoolctl``,
``OPENBLAS_NUM_THREADS``, ...). ``EMBER_NUM_THREADS`` overrides it; 1 keeps everything on the calling
thread. Without ``threadpoolctl`` (the ``fast`` extra) the chunks run on the calling thread.

Which thread computes a chunk never changes a result: chunks write disjoint memory, and where chunks'
results are summed (weight gradients) they are added in chunk order, whatever the thread count.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from ember.threads import blas_libraries, get_num_threads

T = TypeVar("T")
R = TypeVar("R")


_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_workers = 0
_lock = threading.Lock()


def thread_count() -> int:
    """Threads the kernels may use now (``ember.get_num_threads``: EMBER_NUM_THREADS, the number given to
    ``ember.set_num_threads``, or BLAS's current setting)."""
    return get_num_threads()


def _executor(workers: int) -> ThreadPoolExecutor:
    """The shared pool, (re)made when too small or inherited through fork (its threads stay behind)."""
    global _pool, _pool_pid, _pool_workers
    with _lock:
        if _pool is None or _pool_workers < workers or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ember-kernel")
            _pool_pid, _pool_workers = os.getpid(), workers
        return _pool


def run_chunks(chunks: Sequence[T], body: Callable[[T], R], parallel: bool = True) -> list[R]:
    """[body(chunk) for chunk in chunks], the chunks shared among the threads; results in chunk order.

    Threads take the next chunk when they finish one, so a thread that the machine slows down holds back
    no other. Chunks that may run side by side must write disjoint memory (``parallel=False`` otherwise).
    """
    blas = blas_libraries()
    workers = min(thread_count(), len(chunks)) if parallel and blas else 1
    if workers <= 1:
        return [body(chunk) for chunk in chunks]
    results: list[Any] = [None] * len(chunks)
    order = iter(range(len(chunks)))  # next() on it is atomic under the GIL

    def work() -> None:
        for index in order:
            results[index] = body(chunks[index])

    previous = [lib.get_num_threads() for lib in blas]
    for lib in blas:
        lib.set_num_threads(1)
    try:
        futures = [_executor(workers - 1).submit(work) for _ in range(workers - 1)]
        work()
        for future in futures:
            future.result()
    finally:
        for lib, count in zip(blas, previous, strict=True):
            lib.set_num_threads(count)
    return results


def sum_chunks(chunks: Sequence[T], body: Callable[[T], np.ndarray], parallel: bool = True) -> np.ndarray:
    """The sum of body(chunk) over the chunks (each result a new array), added in chunk order whatever the
    thread count, so the result is the same on any number of threads; a result is added as soon as those
    of the chunks before it are, so only results computed ahead of their turn wait (one thread: none)
    rather than one per chunk (a weight gradient's partial sums: up to 45 MiB on VGG-style's layers)."""
    waiting: dict[int, np.ndarray] = {}
    state: dict[str, Any] = {"next": 0, "total": None}
    lock = threading.Lock()

    def add(index: int) -> None:
        part = body(chunks[index])
        with lock:
            waiting[index] = part
            while state["next"] in waiting:
                part = waiting.pop(state["next"])
                if state["total"] is None:
                    state["total"] = part
                else:
                    state["total"] += part
                state["next"] += 1

    run_chunks(range(len(chunks)), add, parallel)
    return state["total"]


# Below this many bytes a copy is not worth handing to other threads.
PARALLEL_COPY_BYTES = 1 << 20


def split_copy(destination: Any, source: Any, add: Any = None) -> None:
    """destination[...] = source (+ add, broadcast along axis 0), in pieces along axis 0 on the threads."""
    count = destination.shape[0]
    pieces = min(thread_count(), count) if destination.nbytes >= PARALLEL_COPY_BYTES else 1
    bounds = [(count * k // pieces, count * (k + 1) // pieces) for k in range(pieces)]

    def body(bound: tuple[int, int]) -> None:
        first, last = bound
        if add is None:
            destination[first:last] = source[first:last]
        else:
            np.add(source[first:last], add[first:last], out=destination[first:last])

    run_chunks(bounds, body, parallel=pieces > 1)
