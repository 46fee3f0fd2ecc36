"""Loss reductions ('mean' | 'sum' | 'none'), forward and backward, shared by every loss."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Tensor

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(name: str, reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def reduce(loss: np.ndarray, reduction: str, denominator: Any = None) -> np.ndarray:
    """The per-element loss, its sum, or its sum over ``denominator`` (the element count by default)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if isinstance(loss, Tensor):  # a loss from Ember operations (a composite, ember.autograd.backprop)
        return total if reduction == "sum" else total / (loss.numel() if denominator is None else denominator)
    if reduction == "sum":
        return np.asarray(total)
    count = loss.size if denominator is None else denominator
    if count:
        return np.asarray(total / loss.dtype.type(count))
    with np.errstate(divide="ignore", invalid="ignore"):  # nothing counted: 0 / 0 = nan, as PyTorch
        return np.asarray(total / loss.dtype.type(count))


def upstream(grad: np.ndarray, reduction: str, size: int, denominator: Any = None) -> np.ndarray:
    """The upstream gradient per loss element: itself ('none'), or a 0-d array (divided for 'mean')."""
    if reduction == "none":
        return grad
    if reduction == "sum":
        return grad
    count = size if denominator is None else denominator
    if count:
        return grad / grad.dtype.type(count)
    with np.errstate(divide="ignore", invalid="ignore"):
        return grad / grad.dtype.type(count)
