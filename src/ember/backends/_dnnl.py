"""oneDNN (Intel's Deep Neural Network Library, ``libdnnl``) itself, through its C API (ctypes): found,
loaded and checked once; its engine and stream; the OpenMP threads it computes on; and its matrix product.

The convolutions that run on it live with the other convolution kernels (``ember.nn.functional._onednn``);
this module is below the operations so that ``linear`` and ``matmul`` can use the library's ``sgemm`` too.
Its JIT-compiled AVX-512 / AVX2 kernels are faster than OpenBLAS's on a training step's skinny shapes
(batch x features), and a network whose products and convolutions all run on oneDNN keeps one pool of
threads busy instead of two (``docs/performance.md``, "Two threads").

Used when Debian's ``libdnnl2`` (``apt install libdnnl2``) loads, its version is one whose constants were
checked against its headers (``CHECKED_VERSIONS``), ``EMBER_ONEDNN`` is not ``0`` and
``ember.backends.mkldnn.enabled`` is true; only float32 arrays go to it. The library's OpenMP threads follow
``ember.set_num_threads``; the runtime's count is set around each call and restored after it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ember.backends import mkldnn
from ember.threads import get_num_threads

LIBRARY = "libdnnl.so.2"
CHECKED_VERSIONS = {(2, 6)}  # major, minor: versions whose headers the constants below were checked against

# From oneDNN 2.6's dnnl_types.h and dnnl_config.h (tests/nn/test_onednn.py compiles them against the
# installed headers where a C compiler is present).
CPU_ENGINE, F32, STREAM_DEFAULT_FLAGS, RUNTIME_OMP = 1, 3, 1, 2
MEMORY_DESC_BYTES = 1024  # an opaque buffer for dnnl_memory_desc_t (696 bytes in 2.6)

Dims = ctypes.c_int64 * 12  # dnnl_dims_t


class ExecArg(ctypes.Structure):  # dnnl_exec_arg_t
    _fields_ = (("arg", ctypes.c_int), ("memory", ctypes.c_void_p))


class Version(ctypes.Structure):  # dnnl_version_t
    _fields_ = (
        ("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int), ("hash", ctypes.c_char_p),
        ("cpu_runtime", ctypes.c_uint), ("gpu_runtime", ctypes.c_uint),
    )  # fmt: skip


_forked = False  # in a child made by fork: GNU OpenMP's threads do not survive it, so use one (as PyTorch)


def _after_fork_in_child() -> None:
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def enabled() -> bool:
    """Whether float32 work may go to oneDNN: ``EMBER_ONEDNN`` is not ``0``, ``ember.backends.mkldnn.enabled``
    is true and the library loaded."""
    return os.environ.get("EMBER_ONEDNN", "1") != "0" and mkldnn.enabled and library() is not None


@functools.cache
def library() -> Any:
    """The loaded library with its engine and stream, or None (``status()`` says why)."""
    try:
        return Library()
    except (OSError, RuntimeError):
        return None


mkldnn.register(lambda: library() is not None)  # ember.backends.mkldnn.is_available()


def status() -> str:
    """One line: the oneDNN version in use, or why it is not (for messages, tests and docs)."""
    if os.environ.get("EMBER_ONEDNN", "1") == "0":
        return "oneDNN turned off (EMBER_ONEDNN=0)"
    if not mkldnn.enabled:
        return "oneDNN turned off (ember.backends.mkldnn.enabled is False)"
    if library() is not None:
        return f"oneDNN {library().version} in use"
    try:
        Library()  # fails again, saying why
    except (OSError, RuntimeError) as error:
        return f"oneDNN not used: {error}"
    return "oneDNN not used"


#: GNU OpenMP's spin count for oneDNN's idle threads (about 0.1 ms: "100000 spins per msec", libgomp)
SPIN_COUNT = "10000"


@contextlib.contextmanager
def _short_waiting() -> Iterator[None]:
    """While the library loads, unless the user set ``OMP_WAIT_POLICY``: ``OMP_WAIT_POLICY=PASSIVE`` and
    ``GOMP_SPINCOUNT=10000`` (unless the user set that). GNU OpenMP reads them once, when it is loaded: by
    this load, unless PyTorch (whose runtime oneDNN then shares) was imported first. Its idle threads then
    spin for about 0.1 ms after each call, long enough to catch the next call of a convolution's run of
    reorders and products, then sleep. By default they spin for about 3 ms, taking the second core from
    Ember's next NumPy operations. Without any spin, each call has to wake a sleeping thread. See
    ``docs/performance.md``, oneDNN: threads."""
    if "OMP_WAIT_POLICY" in os.environ:
        yield
        return
    wanted = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": SPIN_COUNT}
    added = {name: value for name, value in wanted.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


class Library:
    def __init__(self) -> None:
        try:
            with _short_waiting():
                self.lib = lib = ctypes.CDLL(LIBRARY)
        except OSError as error:
            raise OSError(f"{LIBRARY} not found ({error}); install it with: apt install libdnnl2") from error

        lib.dnnl_version.restype = ctypes.POINTER(Version)
        v = lib.dnnl_version().contents
        self.version = f"{v.major}.{v.minor}.{v.patch}"
        if (v.major, v.minor) not in CHECKED_VERSIONS:
            raise RuntimeError(f"version {self.version} is not one whose constants Ember checked (2.6)")
        if v.cpu_runtime != RUNTIME_OMP:
            raise RuntimeError(f"{LIBRARY} {self.version} is not built with OpenMP threads")
        lib.dnnl_primitive_desc_query_md.restype = ctypes.c_void_p
        lib.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
        lib.omp_get_max_threads.restype = ctypes.c_int  # the OpenMP runtime the library runs on
        size, floats = ctypes.c_int64, ctypes.c_void_p  # dnnl_dim_t, float *
        lib.dnnl_sgemm.argtypes = (ctypes.c_char, ctypes.c_char, size, size, size, ctypes.c_float, floats,
                                   size, floats, size, ctypes.c_float, floats, size)  # fmt: skip
        self.engine, self.stream = ctypes.c_void_p(), ctypes.c_void_p()
        self.check("dnnl_engine_create", ctypes.byref(self.engine), CPU_ENGINE, 0)
        self.check("dnnl_stream_create", ctypes.byref(self.stream), self.engine, STREAM_DEFAULT_FLAGS)

    def check(self, name: str, *args: Any) -> None:
        status = getattr(self.lib, name)(*args)
        if status != 0:
            raise RuntimeError(f"oneDNN: {name} failed with status {status}")

    def memory_desc(self, dims: tuple[int, ...], tag: int) -> Any:
        desc = ctypes.create_string_buffer(MEMORY_DESC_BYTES)
        self.check("dnnl_memory_desc_init_by_tag", desc, len(dims), Dims(*dims), F32, tag)
        return desc

    def memory(self, desc: Any) -> ctypes.c_void_p:
        memory = ctypes.c_void_p()
        self.check("dnnl_memory_create", ctypes.byref(memory), desc, self.engine, None)
        return memory

    def primitive(self, pd: ctypes.c_void_p) -> ctypes.c_void_p:
        primitive = ctypes.c_void_p()
        self.check("dnnl_primitive_create", ctypes.byref(primitive), pd)
        return primitive

    def execute(self, primitive: ctypes.c_void_p, args: list[tuple[int, ctypes.c_void_p]]) -> None:
        pairs = (ExecArg * len(args))(*(ExecArg(arg, memory) for arg, memory in args))
        self.check("dnnl_primitive_execute", primitive, self.stream, len(args), pairs)


class threads:
    """Within: the library's OpenMP runtime runs ``count`` threads; restored after (PyTorch may share it)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __enter__(self) -> None:
        lib = library().lib
        self.previous = lib.omp_get_max_threads()
        if self.previous != self.count:
            lib.omp_set_num_threads(self.count)

    def __exit__(self, *exc: object) -> None:
        if self.previous != self.count:
            library().lib.omp_set_num_threads(self.previous)


def thread_count() -> int:
    """``ember.get_num_threads()``, or 1 in a forked child."""
    return 1 if _forked else get_num_threads()


# ------------------------------------------------------------------------------------------------------
# The matrix product


def sgemm_worth_it(work: int, count: int) -> bool:
    """Whether a product of ``work`` multiply-adds (m n k) on ``count`` threads goes to oneDNN's sgemm.
    Each call costs it a fixed 15-25 us more than OpenBLAS (at one thread, more); its kernels win on larger
    products (``docs/performance.md``, "Two threads", has the measurements)."""
    return work >= (1 << 20 if count > 1 else 1 << 24)


def _operand(matrix: np.ndarray) -> tuple[bytes, int, np.ndarray]:
    """How sgemm reads a matrix (row-major): as it is (``N``) or as the transpose of the one its memory holds
    (``T``, a transposed view such as ``weight.T``), with its leading dimension; copied if neither."""
    if matrix.flags.c_contiguous:
        return b"N", max(1, matrix.shape[1]), matrix
    if matrix.flags.f_contiguous:
        return b"T", max(1, matrix.shape[0]), matrix
    return b"N", max(1, matrix.shape[1]), np.ascontiguousarray(matrix)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``, as ``np.matmul``. Two float32 matrices go to oneDNN's ``dnnl_sgemm`` where the backend is
    enabled and the product is large enough (``sgemm_worth_it``); the rest to NumPy (OpenBLAS)."""
    if a.ndim != 2 or b.ndim != 2 or a.dtype != np.float32 or b.dtype != np.float32:
        return np.matmul(a, b)
    (m, k), n, count = a.shape, b.shape[1], thread_count()
    if k != b.shape[0] or not sgemm_worth_it(m * n * k, count) or not enabled():
        return np.matmul(a, b)
    (op_a, lda, a), (op_b, ldb, b) = _operand(a), _operand(b)
    out = np.empty((m, n), np.float32)
    lib = library()
    with threads(count):
        lib.check("dnnl_sgemm", op_a, op_b, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, 0.0,
                  out.ctypes.data, n)  # fmt: skip
    return out
