"""Broadcasting, and undoing it in backward.

When an operation broadcasts an input (a bias of shape (C,) added to (N, C)), every copy of the input
receives a gradient; backward sums those copies back into the input's shape. One helper does this for every
operation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.ops import dual


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` (an array, or a tensor in a recorded backward) over the axes along which an input of
    ``shape`` was broadcast. A float array's sum is written into a fresh array of ``shape``, not returned as
    a reshaped view of one: the graph hands a leaf (a bias) an array that owns its memory, and copies a
    view (``ember.autograd.graph``, ownership)."""
    if grad.shape == shape:
        return grad
    leading = grad.ndim - len(shape)
    axes = tuple(range(leading)) + tuple(
        leading + i for i, size in enumerate(shape) if size == 1 and grad.shape[leading + i] != 1
    )
    if isinstance(grad, np.ndarray) and grad.dtype.kind in "fc":
        summed = np.empty(shape, grad.dtype)
        np.sum(grad, axis=axes, keepdims=True, out=summed.reshape((1,) * leading + shape))
        return summed
    summed = dual.sum(grad, axes, keepdim=True) if axes else grad
    return summed.reshape(shape)


def reshaped(x: Any, shape: tuple[int, ...]) -> Any:
    """``x.reshape(shape)``, or ``x`` itself where it has that shape already: a gradient stays the array a
    backward made (which a leaf may keep) instead of becoming a view of it (which it must copy)."""
    return x if tuple(x.shape) == tuple(shape) else x.reshape(shape)


def broadcast_shapes(operation: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast shape, or an error that names the operation and every shape."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(
            f"{operation}: shapes {listed} cannot be broadcast together (trailing dimensions must be "
            "equal, or one of them 1)"
        ) from None


def shape_of(value: Any) -> tuple[int, ...]:
    return value.shape if isinstance(value, np.ndarray) else ()
