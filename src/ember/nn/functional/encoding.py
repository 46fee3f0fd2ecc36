"""One-hot encoding: class indices as rows of the identity matrix (targets for soft-label losses, mixup)."""

from __future__ import annotations

import numpy as np

from ember.autograd import Tensor, from_numpy


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """An int64 tensor of shape ``(*tensor.shape, num_classes)`` with a 1 at each class index (an int64
    tensor) and 0 elsewhere; ``num_classes=-1`` takes the largest index + 1."""
    indices = tensor.array
    if indices.dtype != np.int64:
        raise RuntimeError(
            f"one_hot: the input must be an int64 tensor of class indices, not {indices.dtype}; use .long()"
        )
    if num_classes == -1:
        if not indices.size:
            raise RuntimeError(
                "one_hot: cannot infer the number of classes from an empty tensor; give num_classes"
            )
        num_classes = int(indices.max()) + 1
    if indices.size and indices.min() < 0:
        raise RuntimeError(f"one_hot: class values must be non-negative, found {indices.min()}")
    if indices.size and indices.max() >= num_classes:
        raise RuntimeError(
            f"one_hot: class values must be smaller than num_classes={num_classes}, found {indices.max()}"
        )
    return from_numpy(np.eye(num_classes, dtype=np.int64)[indices])
