"""Dropout (Srivastava et al. 2014): during training, zero each unit with probability p.

Inverted dropout, as PyTorch: the kept units are scaled by 1 / (1 - p) at training time, so that the
expected activation is unchanged and the test-time forward pass is the identity (no rescaling at test
time). It trains an implicit ensemble of the sub-networks that share parameters and prevents co-adaptation
of features. ``dropout2d`` (Tompson et al. 2015, "SpatialDropout") drops whole channels of an (N, C, H, W)
input, because neighbouring pixels of a feature map are strongly correlated. Masks come from Ember's seeded
generator (or ``generator=``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor, from_numpy
from ember.nn.shape_check import input_shape_error
from ember.random import Generator, numpy_generator


def dropout_mask(
    shape: tuple[int, ...], p: float, dtype: Any, generator: Generator | None = None
) -> np.ndarray:
    """1 / (1 - p) where a unit is kept (probability 1 - p), 0 where it is dropped."""
    keep = numpy_generator(generator).random(shape, dtype=np.float32) >= np.float32(p)
    mask = keep.astype(dtype)
    mask *= dtype.type(1) / dtype.type(1 - p)  # PyTorch rounds 1 / (1 - p) to the input's type first
    return mask


class Dropout(Function):
    """y = x * mask, dy/dx = mask; the mask is drawn in forward (or given) and kept for backward."""

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def _check_p(name: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")


def _apply(input: Tensor, mask_shape: tuple[int, ...], p: float, inplace: bool, generator: Any) -> Tensor:
    if p == 1.0:
        mask = np.zeros(mask_shape, dtype=input.dtype)
    else:
        mask = dropout_mask(mask_shape, p, input.dtype, generator)
    if inplace:
        return input.mul_(from_numpy(mask))
    return Dropout.apply(input, mask)


def dropout(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    generator: Generator | None = None,
) -> Tensor:
    """Zero each element with probability ``p``, scale the rest by 1 / (1 - p); identity unless training."""
    _check_p("dropout", p)
    if not training or p == 0.0:
        return input
    return _apply(input, input.shape, p, inplace, generator)


def dropout2d(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    generator: Generator | None = None,
) -> Tensor:
    """Zero whole channels of an (N, C, H, W) input with probability ``p``.

    A 3-D input is read as (N, C, L), channel-wise 1-D dropout, with PyTorch's warning.
    """
    _check_p("dropout2d", p)
    if input.ndim not in (3, 4):
        raise input_shape_error("dropout2d", "(N, C, H, W)", input.shape)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: received a 3-D input; it is interpreted as (N, C, L) and whole channels of length "
            "L are dropped (channel-wise 1-D dropout), as PyTorch does",
            UserWarning,
            stacklevel=2,
        )
    if not training or p == 0.0:
        return input
    mask_shape = input.shape[:2] + (1,) * (input.ndim - 2)
    return _apply(input, mask_shape, p, inplace, generator)
