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
    ``shape`` was broadcast."""
    if grad.shape == shape:
        return grad
    leading = grad.ndim - len(shape)
    axes = tuple(range(leading)) + tuple(
        leading + i for i, size in enumerate(shape) if size == 1 and grad.shape[leading + i] != 1
    )
    summed = dual.sum(grad, axes, keepdim=True) if axes else grad
    return summed.reshape(shape)


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
