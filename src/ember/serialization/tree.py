"""Nested state as a JSON skeleton plus named arrays: the safe half of every file Ember writes.

A state (a ``state_dict``, an optimizer's, a checkpoint dict) is a tree of dicts, lists and tuples with
plain values (None, booleans, numbers, strings) and arrays at the leaves. ``encode`` splits it in two:
the arrays are collected by name (their path, ``model/features.0.weight``), and the rest becomes JSON with a
marker where each array was (``{"$tensor": name}``, ``{"$array": name}``; dicts with keys that are not
plain strings as ``{"$dict": [[key, value], ...]}``, tuples as ``{"$tuple": [...]}``). ``decode`` rebuilds
the tree. Both sides handle data only: nothing read from a file is ever called, so loading runs no code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy
from ember.errors import EmberError

_ARRAY, _TENSOR, _DICT, _TUPLE = "$array", "$tensor", "$dict", "$tuple"


class SerializationError(EmberError, ValueError):
    """A state could not be written or read; the message names what and where."""


def encode(value: Any, path: list[str], arrays: dict[str, np.ndarray]) -> Any:
    """The JSON skeleton of ``value``; its arrays go into ``arrays`` under their path."""
    if isinstance(value, Tensor | np.ndarray | np.generic):
        array = value.array if isinstance(value, Tensor) else np.asarray(value)
        name = "/".join(path) or "value"
        while name in arrays:
            name += "'"
        arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")  # keeps 0-d arrays 0-d
        marker: dict[str, Any] = {_TENSOR if isinstance(value, Tensor) else _ARRAY: name}
        if isinstance(value, np.generic):
            marker["scalar"] = True
        if isinstance(value, Tensor) and value.requires_grad:
            marker["requires_grad"] = True
        return marker
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        if all(isinstance(key, str) and not key.startswith("$") for key in value):
            return {key: encode(item, [*path, key], arrays) for key, item in value.items()}
        pairs = []
        for key, item in value.items():
            if not (key is None or isinstance(key, bool | int | float | str)):
                raise SerializationError(f"cannot store a {type(key).__name__} dict key at {'/'.join(path)}")
            pairs.append([key, encode(item, [*path, str(key)], arrays)])
        return {_DICT: pairs}
    if isinstance(value, tuple):
        return {_TUPLE: [encode(item, [*path, str(i)], arrays) for i, item in enumerate(value)]}
    if isinstance(value, list):
        return [encode(item, [*path, str(i)], arrays) for i, item in enumerate(value)]
    raise SerializationError(
        f"cannot store a {type(value).__name__} at '{'/'.join(path)}': only tensors, arrays, numbers, "
        "strings, None, lists, tuples and dicts can be stored (no code is ever saved)"
    )


def decode(value: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """The tree ``encode`` described, its arrays taken from ``arrays`` (KeyError if one is missing)."""
    if isinstance(value, list):
        return [decode(item, arrays) for item in value]
    if not isinstance(value, dict):
        return value
    if _TENSOR in value or _ARRAY in value:
        array = arrays[str(value[_TENSOR] if _TENSOR in value else value[_ARRAY])]
        if value.get("scalar"):
            return array[()]
        if _ARRAY in value:
            return array
        tensor = from_numpy(array)
        if value.get("requires_grad") and array.dtype.kind in "fc":
            tensor.requires_grad_(True)
        return tensor
    if _DICT in value:
        return {key: decode(item, arrays) for key, item in value[_DICT]}
    if _TUPLE in value:
        return tuple(decode(item, arrays) for item in value[_TUPLE])
    return {key: decode(item, arrays) for key, item in value.items()}
