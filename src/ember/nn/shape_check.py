"""The one place that words a layer's complaint about the shape of its input.

A layer given an input of the wrong shape says which layer it is (its repr, with its settings), what it
expected and what it got, e.g. ``Linear(in_features=784, out_features=10, bias=True): expected input
(..., 784), got (32, 28, 28)``. The error is both a ``ValueError`` (as Ember's operations raise) and a
``RuntimeError`` (as PyTorch raises), so code written for either catches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class InputShapeError(ValueError, RuntimeError):
    """A layer or functional received an input whose shape it cannot work with."""


def input_shape_error(layer: Any, expected: str, got: Sequence[int], what: str = "input") -> InputShapeError:
    """The error to raise: ``layer`` is a module (named by its repr) or the name of a function."""
    name = layer if isinstance(layer, str) else repr(layer)
    return InputShapeError(f"{name}: expected {what} {expected}, got {tuple(got)}")


def check_channels(
    layer: Any, shape: Sequence[int], ndims: Sequence[int], channels: int, layout: str
) -> None:
    """Raise unless the input has one of ``ndims`` dimensions and ``channels`` entries in dimension 1.

    ``layout`` names the dimensions for the message, with ``{C}`` standing for the number of channels,
    e.g. ``"(N, {C}, H, W)"``.
    """
    if len(shape) not in ndims or shape[1] != channels:
        raise input_shape_error(layer, layout.format(C=channels), shape)
