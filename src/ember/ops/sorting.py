"""Ordering values along a dimension: ``sort``, ``argsort``, ``topk``.

Each finds the order of the elements (a stable sort: equal elements keep their order, in either direction,
as PyTorch's ``stable=True``; NaN counts as the largest value) and then reads the values at those indices
with ``gather``, so the gradient of the values flows back to the positions they came from and the indices
(int64) carry none. ``topk`` keeps the first k of that order; PyTorch does not specify the order of ties
there, so code should not rely on which of two equal values comes first.
"""

from __future__ import annotations

import numpy as np

from ember.autograd import Tensor, from_numpy
from ember.ops.dims import normalize_dim
from ember.ops.indexing import gather
from ember.ops.reduction import ValuesIndices


def order(values: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """The indices that sort ``values`` along ``axis`` (stable: ties keep their order), as int64."""
    if not descending:
        return np.argsort(values, axis=axis, kind="stable").astype(np.int64, copy=False)
    # Descending and still stable: sort the reversed array ascending (ties come out last-first), reverse
    # the result (ties first-first again, values largest first) and map back to the original positions.
    reversed_order = np.argsort(np.flip(values, axis), axis=axis, kind="stable")
    return (values.shape[axis] - 1 - np.flip(reversed_order, axis)).astype(np.int64, copy=False)


def _along(x: Tensor, dim: int, name: str) -> tuple[Tensor, int]:
    """``x`` with at least one dimension (a 0-d tensor is one element), and ``dim`` as a non-negative int."""
    if x.ndim == 0:
        normalize_dim(dim, 0, name)
        return x.reshape(1), 0
    return x, normalize_dim(dim, x.ndim, name)


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> ValuesIndices:
    """``(values, indices)`` sorted along ``dim``; always stable here (``stable`` is accepted for PyTorch)."""
    values, axis = _along(x, dim, "sort")
    indices = order(values.array, axis, descending)
    result = gather(values, axis, indices)
    if x.ndim == 0:
        return ValuesIndices(result.reshape(()), from_numpy(indices.reshape(())))
    return ValuesIndices(result, from_numpy(indices))


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The int64 indices that sort ``x`` along ``dim`` (stable)."""
    return sort(x, dim, descending, stable).indices


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
    """The ``k`` largest (or with ``largest=False`` smallest) elements along ``dim`` and their int64
    indices, largest first (``sorted`` is accepted: the result is always in order)."""
    values, axis = _along(x, dim, "topk")
    size = values.shape[axis]
    if not 0 <= k <= size:
        raise RuntimeError(
            f"topk: selected index k={k} is out of range for dimension {dim} of size {size} "
            f"(shape {tuple(x.shape)}); k must lie in [0, {size}]"
        )
    indices = np.take(order(values.array, axis, largest), np.arange(k), axis=axis)
    result = gather(values, axis, indices)
    if x.ndim == 0:
        return ValuesIndices(result.reshape(()), from_numpy(indices.reshape(())))
    return ValuesIndices(result, from_numpy(indices))
