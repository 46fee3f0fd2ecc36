"""Data types: NumPy's, under PyTorch's names. float32 is the default, end to end.

A float64 that slips into a float32 network doubles memory traffic and halves GEMM speed, so Ember keeps
PyTorch's promotion rules: Python scalars never widen a tensor, and an integer tensor meeting a float
becomes the float's type (not float64, as NumPy would make it).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

_default = {"float": float32}


def get_default_dtype() -> np.dtype[Any]:
    """The floating type that new tensors get from Python floats (float32 unless changed)."""
    return _default["float"]


def set_default_dtype(dtype: Any) -> None:
    resolved = as_dtype(dtype)
    if resolved.kind != "f":
        raise TypeError(f"set_default_dtype: only floating types can be the default, not {resolved}")
    _default["float"] = resolved


def as_dtype(dtype: Any) -> np.dtype[Any]:
    """A NumPy dtype from a dtype, a Python type (float means the default float) or a name."""
    if dtype is None or dtype is builtins.float:
        return _default["float"]
    if dtype is builtins.int:
        return int64
    if dtype is builtins.bool:
        return bool_
    return np.dtype(dtype)


def result_type(a: np.ndarray, b: np.ndarray) -> np.dtype[Any]:
    """PyTorch's promotion of two arrays: an integer or bool meeting a float takes the float's type."""
    a_float, b_float = a.dtype.kind == "f", b.dtype.kind == "f"
    if a_float and not b_float:
        return a.dtype
    if b_float and not a_float:
        return b.dtype
    return np.result_type(a.dtype, b.dtype)


# PyTorch's aliases, bound last so that the functions above see Python's own float, int and bool.
half = float16
float = float32
double = float64
short = int16
int = int32
long = int64
bool = bool_
