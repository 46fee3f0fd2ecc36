"""Dropout layers (Srivastava et al. 2014): ``Dropout`` zeroes units, ``Dropout2d`` whole channels.

Inverted dropout: scaled by 1 / (1 - p) while training, the identity in eval mode (``model.eval()``).
"""

from __future__ import annotations

from ember.autograd import Tensor
from ember.nn.functional.dropout import dropout, dropout2d
from ember.nn.module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` during training; scale the kept ones by 1 / (1 - p)."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) inputs with probability ``p`` during training."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout2d(input, self.p, self.training, self.inplace)
