"""Dimension arguments: ``dim`` as an int (negative counts from the end), a tuple of ints, or None (all).

Every operation that takes ``dim`` normalizes it here, so that an out-of-range dimension gets the same
message (naming the operation, the dimension and the valid range) everywhere.
"""

from __future__ import annotations

import builtins

import numpy as np

Dim = int | tuple[int, ...] | list[int] | None


def normalize_dims(dim: Dim, ndim: int, operation: str = "reduction") -> tuple[int, ...] | None:
    """Dimensions as a sorted tuple of non-negative ints (None means all), checking their range."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
    normalized = []
    for d in dims:
        d = int(d)
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise IndexError(
                f"{operation}: dimension {d} is out of range for a tensor with {ndim} dimensions "
                f"(expected a value in [{-builtins.max(ndim, 1)}, {builtins.max(ndim, 1) - 1}])"
            )
        normalized.append(d % ndim if ndim else 0)
    return tuple(sorted(set(normalized)))


def normalize_dim(dim: int, ndim: int, operation: str) -> int:
    """One dimension as a non-negative int, checking its range."""
    (axis,) = normalize_dims(dim, ndim, operation) or (0,)
    return axis
