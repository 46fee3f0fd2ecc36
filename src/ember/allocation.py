"""glibc's malloc, set at ``import ember`` to keep freed memory for reuse instead of giving it back to the
kernel (``docs/performance.md``, "Page faults").

A training step allocates and frees the same large arrays at every step: activations, gradients, a
convolution's blocked copies. By default glibc serves an allocation above its mmap threshold (128 KiB,
raised up to 32 MiB as large blocks are freed) with pages mapped fresh from the kernel, unmaps them when
the array is freed, and gives the top of its heap back above its trim threshold. The next step's arrays
are then faulted in again, one page fault per 4 KiB page, each page zeroed by the kernel: on the virtual
machines measured a fault cost 2-4 us, and LeNet-5's step at batch 128 took 1,536 of them, about a
quarter of its time.

So where the C library is glibc, ``import ember`` calls ``mallopt`` with ``M_MMAP_THRESHOLD`` at 32 MiB
(``MMAP_THRESHOLD``, the highest glibc's own adjustment reaches) and ``M_TRIM_THRESHOLD`` at 2 GiB - 1
(``TRIM_THRESHOLD``): smaller allocations come from the heap, and the heap is not given back. It is what
the environment variables ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` do, set from inside
the process. The cost: a process's resident memory stays near its peak after large arrays are freed (the
peak itself is that of the arrays alive at once).

The setting is the whole process's: it applies to every allocation after ``import ember``, another
library's too (PyTorch's tensors, where a benchmark runs both). It is not made where the user set either
variable (theirs stand), and ``EMBER_MALLOC_TUNING=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import os
import platform

#: The mmap threshold set (bytes): the highest glibc's own adjustment reaches. Larger arrays (VGG-style's
#: 32 MiB activations) are still mapped, and given back when freed: kept on the heap, they left holes that
#: raised VGG-style's peak memory by 13% and saved no time (NumPy asks for huge pages for them, so they
#: take few faults).
MMAP_THRESHOLD = 32 << 20
#: The trim threshold set (bytes): the heap is not given back.
TRIM_THRESHOLD = 2**31 - 1
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h

#: The environment variables by which a user sets the thresholds: where either is set, Ember leaves them.
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Set glibc's thresholds (above), unless turned off or chosen by the user; whether they were set."""
    chosen = any(name in os.environ for name in USER_SETTINGS)
    if chosen or os.environ.get("EMBER_MALLOC_TUNING", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


#: Whether ``import ember`` set the thresholds.
kept = keep_freed_memory()
