"""Reading pickles of plain containers and NumPy arrays (CIFAR's batches) without running anything.

Unpickling calls whatever global a file names, so a data file read with ``pickle.load`` can run any code. This
unpickler serves a fixed set of globals, the ones NumPy arrays need under every pickle protocol, and refuses
all others (``os.system`` fails before anything runs):

- ``_reconstruct``, ``ndarray`` and ``dtype`` (protocols 0-4; NumPy 1 names the module ``numpy.core``,
  NumPy 2 ``numpy._core``), ``_frombuffer`` (protocol 5) and ``scalar`` (a NumPy number such as a label kept
  as ``np.int64``);
- ``_codecs.encode``, which Python 3 writing protocol 2 uses to store bytes as ``encode(text, 'latin1')``:
  only the latin-1 codec is served; and ``bytes()`` for empty bytes (no argument: no size to allocate).

NumPy's own helpers are not handed to the file: a crafted ``dtype`` state can declare an object field that
NumPy then fills from the file's bytes, i.e. pointers (a crash, or worse). Instead each global is a small
builder that accepts plain dtypes only (booleans, numbers, fixed-length strings; no fields, no objects) and
raw bytes of exactly the announced size, and the arrays are built from those with ``np.frombuffer``.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from typing import Any

import numpy as np

from ember.data.files import damaged
from ember.errors import DataFormatError

PLAIN_KINDS = "biufcSU"  # bool, integers, floats, complex, bytes and str of fixed length


class UnsafePickleError(DataFormatError, pickle.UnpicklingError):
    """A pickle asks for something that could run code or read memory; nothing was run."""


class _Dtype:
    """``numpy.dtype(code, align, copy)`` as a pickle calls it; BUILD may only set the byte order."""

    def __init__(self, code: Any, align: Any = False, copy: Any = False) -> None:
        try:
            dtype = np.dtype(code) if isinstance(code, str) else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in PLAIN_KINDS or dtype.fields is not None:
            raise UnsafePickleError(f"refusing dtype {code!r}: only plain numbers and strings are read")
        self.dtype: np.dtype[Any] = dtype

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 5 or any(part is not None for part in state[2:5]):
            raise UnsafePickleError(f"refusing a structured dtype state {str(state)[:80]}")
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


def _plain(dtype: Any) -> np.dtype[Any]:
    if not isinstance(dtype, _Dtype):
        raise UnsafePickleError(f"refusing an array of type {type(dtype).__name__}: expected a plain dtype")
    return dtype.dtype


def _bytes(raw: Any) -> bytes:
    if isinstance(raw, str):  # Python 2's str, decoded as latin-1 by the unpickler
        return raw.encode("latin1")
    if isinstance(raw, bytes | bytearray):
        return bytes(raw)
    raise UnsafePickleError(f"refusing array contents of type {type(raw).__name__} (object arrays)")


def _from_bytes(raw: Any, dtype: Any, shape: Any, order: str = "C") -> np.ndarray:
    plain = _plain(dtype)
    data = _bytes(raw)
    shape = tuple(int(d) for d in shape)
    if len(data) != math.prod(shape) * plain.itemsize:
        raise ValueError(f"an array of shape {shape} and type {plain} with {len(data)} bytes")
    return np.frombuffer(data, dtype=plain).reshape(shape, order="F" if order == "F" else "C")


class _NdarrayToken:
    """Stands for ``numpy.ndarray``, which a pickle passes to ``_reconstruct`` but must never call."""


class _Array:
    """``_reconstruct(ndarray, ...)``: an empty array that BUILD fills with (shape, dtype, order, bytes)."""

    array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ValueError("a damaged array state")
        shape, dtype, fortran, raw = state[-4:]
        self.array = _from_bytes(raw, dtype, shape, "F" if fortran else "C")


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> _Array:
    if not isinstance(subtype, _NdarrayToken):
        raise UnsafePickleError("refusing _reconstruct of anything but a NumPy array")
    return _Array()


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    return _from_bytes(buffer, dtype, shape, order)


def _scalar(dtype: Any, raw: Any) -> Any:
    return _from_bytes(raw, dtype, ())[()]


def _empty_bytes() -> bytes:
    """``bytes()``: how protocols 0-2 store empty bytes (Python 3 names it ``__builtin__.bytes``)."""
    return b""


def _latin1(text: Any, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise UnsafePickleError(f"refusing _codecs.encode with codec {encoding!r}")
    return text.encode("latin1")


_NUMPY = ("numpy.core", "numpy._core")
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{(f"{core}.multiarray", "_reconstruct"): _reconstruct for core in _NUMPY},
    **{(f"{core}.multiarray", "scalar"): _scalar for core in _NUMPY},
    **{(f"{core}.numeric", "_frombuffer"): _frombuffer for core in _NUMPY},
    ("numpy", "ndarray"): _NdarrayToken(),
    ("numpy", "dtype"): _Dtype,
    ("_codecs", "encode"): _latin1,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers and NumPy arrays, never arbitrary objects."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: a data file may hold only containers and arrays"
            )
        return ALLOWED_GLOBALS[module, name]


def _resolve(value: Any, memo: dict[int, Any]) -> Any:
    """The loaded structure with each builder replaced by its array or dtype (shared parts stay shared)."""
    if isinstance(value, _Array):
        if value.array is None:
            raise ValueError("an array without contents")
        return value.array
    if isinstance(value, _Dtype):
        return value.dtype
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, dict):
        out: Any = memo.setdefault(id(value), {})
        out.update((key, _resolve(item, memo)) for key, item in value.items())
        return out
    if isinstance(value, list):
        out = memo.setdefault(id(value), [])
        out.extend(_resolve(item, memo) for item in value)
        return out
    if isinstance(value, tuple):
        return tuple(_resolve(item, memo) for item in value)
    return value


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle a data file safely (``latin1`` decodes the Python 2 strings of the published batches).

    Raises ``UnsafePickleError`` for a file that asks for anything else, ``DataFormatError`` for a damaged
    one; both name the file.
    """
    with open(path, "rb") as stream:
        raw = stream.read()
    try:
        return _resolve(RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load(), {})
    except UnsafePickleError as error:
        raise UnsafePickleError(
            f"{path}: {error} (nothing in it was run); use the published files, or write your own from "
            "NumPy arrays of numbers, lists, numbers and strings"
        ) from None
    except Exception as error:  # anything a damaged pickle makes the unpickler raise
        raise damaged(path, f"damaged or not a pickle ({type(error).__name__}: {error})") from None
