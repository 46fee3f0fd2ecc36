"""Counting values: ``unique`` (the distinct values, where each element went, how often each occurs) and
``bincount`` (a histogram of non-negative integers, optionally weighted).

Neither has a gradient (their results are values picked or counted, not computed); counts and the inverse
indices are int64, as PyTorch's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy
from ember.ops.dims import normalize_dim


def unique(
    x: Tensor,
    sorted: bool = True,
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
) -> Any:
    """The distinct values of ``x`` in ascending order (``dim=None``: of all elements, a 1-d result;
    ``dim``: the distinct slices along it). With ``return_inverse``, also each element's (or slice's)
    index into them (the input's shape; with ``dim``, one per slice); with ``return_counts``, how often
    each occurs. The result is always sorted (PyTorch allows any order for ``sorted=False``)."""
    axis = None if dim is None else normalize_dim(dim, x.ndim, "unique")
    values, inverse, counts = np.unique(x.array, return_inverse=True, return_counts=True, axis=axis)
    inverse = inverse.reshape(x.shape if axis is None else (-1,)).astype(np.int64, copy=False)
    results = [from_numpy(values)]
    if return_inverse:
        results.append(from_numpy(inverse))
    if return_counts:
        results.append(from_numpy(counts.astype(np.int64, copy=False)))
    return results[0] if len(results) == 1 else tuple(results)


def bincount(x: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, ..., max(x) occurs in the 1-d non-negative integer tensor ``x``, with at
    least ``minlength`` bins; with ``weights`` (one per element), the sum of the weights in each bin
    (float32 or float64 weights keep their type, other weights give float64, as PyTorch; an empty input
    gives int64 zeros, as PyTorch)."""
    values = x.array
    integral = values.ndim == 1 and values.dtype.kind in "biu"
    if not integral or (values.size and values.min() < 0):
        found = f"a smallest value of {values.min()}" if integral else f"shape {tuple(x.shape)} of {x.dtype}"
        raise RuntimeError(f"bincount: the input must be a 1-d tensor of non-negative integers, got {found}")
    if minlength < 0:
        raise RuntimeError(f"bincount: minlength must be non-negative, got {minlength}")
    if weights is None or not values.size:  # an empty input gives int64 zeros even with weights, as PyTorch
        return from_numpy(np.bincount(values, minlength=minlength).astype(np.int64, copy=False))
    weight_values = np.asarray(getattr(weights, "array", weights))
    if weight_values.shape != values.shape:
        raise RuntimeError(
            f"bincount: weights must have the input's shape {tuple(x.shape)}, got {weight_values.shape}"
        )
    dtype = weight_values.dtype if weight_values.dtype in (np.float32, np.float64) else np.float64
    return from_numpy(np.bincount(values, weight_values, minlength).astype(dtype, copy=False))
