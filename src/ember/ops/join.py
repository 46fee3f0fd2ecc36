"""Joining and splitting: cat, stack, split, chunk, unbind, and constant padding.

cat's backward cuts the gradient into the pieces the inputs came from; split is a set of slices, each of
which sends its gradient back to its own part of the input. Padding's backward crops the gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor
from ember.ops.dims import normalize_dim


class Concatenate(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, axis: int) -> np.ndarray:
        ctx.axis = axis
        ctx.boundaries = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        try:
            return np.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(
                f"cat: tensors must have the same shape except in dimension {axis}; got {shapes}"
            ) from None

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, ...]:
        ends = [*ctx.boundaries, grad.shape[ctx.axis]]
        before = (slice(None),) * ctx.axis
        return tuple(grad[(*before, slice(start, end))] for start, end in zip([0, *ends], ends, strict=False))


class Stack(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, axis: int) -> np.ndarray:
        ctx.axis = axis
        try:
            return np.stack(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"stack: all tensors must have the same shape; got {shapes}") from None

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, ...]:
        before = (slice(None),) * ctx.axis
        return tuple(grad[(*before, i)] for i in range(grad.shape[ctx.axis]))


def _as_tensors(tensors: Sequence[Any], operation: str) -> list[Tensor]:
    if len(tensors) == 0:
        raise ValueError(f"{operation}: expected a non-empty sequence of tensors")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    kinds = {t.dtype for t in tensors}
    if len(kinds) > 1:
        common = np.result_type(*kinds)
        tensors = [t.to(common) for t in tensors]
    return tensors


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    tensors = _as_tensors(tensors, "cat")
    axis = normalize_dim(dim, tensors[0].ndim, "cat")
    return Concatenate.apply(*tensors, axis=axis)


concat = concatenate = cat


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    tensors = _as_tensors(tensors, "stack")
    ndim = tensors[0].ndim + 1
    if not -ndim <= dim < ndim:
        raise IndexError(f"stack: dimension {dim} is out of range for a result with {ndim} dimensions")
    return Stack.apply(*tensors, axis=dim % ndim)


def split(x: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes."""
    axis = normalize_dim(dim, x.ndim, "split")
    length = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (length // size) + ([length % size] if length % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != length:
            raise ValueError(f"split: sizes {sizes} sum to {sum(sizes)}, but dimension {axis} has {length}")
    pieces, start = [], 0
    for size in sizes:
        index = (slice(None),) * axis + (slice(start, start + size),)
        pieces.append(x[index])
        start += size
    return tuple(pieces)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into ``chunks`` pieces of equal size (the last may be smaller), as ``torch.chunk``."""
    axis = normalize_dim(dim, x.ndim, "chunk")
    size = -(-x.shape[axis] // chunks)
    return split(x, max(size, 1), axis)


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    axis = normalize_dim(dim, x.ndim, "unbind")
    return tuple(x[(slice(None),) * axis + (i,)] for i in range(x.shape[axis]))


class ConstantPad(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, widths: tuple[tuple[int, int], ...], value: float) -> np.ndarray:
        ctx.crop = tuple(
            slice(before, before + size) for (before, _), size in zip(widths, x.shape, strict=True)
        )
        return np.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        return grad[ctx.crop], None, None


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad with a constant, PyTorch's order: ``(left, right)`` of the last dimension, then the previous..."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; Ember pads with a constant")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of widths, at most {2 * x.ndim}, got {len(pad)}")
    if any(w < 0 for w in pad):
        raise ValueError(f"pad: negative widths (cropping) are not supported, got {tuple(pad)}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return ConstantPad.apply(x, tuple(widths), value)
