"""Reshaping layers: ``Flatten`` (the course's "stretch pixels into a single column" before the FC layers)
and ``Unflatten``, its inverse."""

from __future__ import annotations

from collections.abc import Sequence

from ember import ops
from ember.autograd import Tensor
from ember.nn.module import Module
from ember.nn.shape_check import input_shape_error


class Flatten(Module):
    """Merge dimensions ``start_dim`` .. ``end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return ops.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``: (N, 784) -> (N, 1, 28, 28) with (1, 28, 28)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        dim = self.dim % len(shape) if shape else 0
        sizes = list(self.unflattened_size)
        known = 1
        for size in sizes:
            known *= size if size != -1 else 1
        if not shape or (-1 not in sizes and known != shape[dim]) or (-1 in sizes and shape[dim] % known):
            raise input_shape_error(self, f"dimension {self.dim} of a size that splits into {sizes}", shape)
        return ops.unflatten(input, dim, sizes)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
