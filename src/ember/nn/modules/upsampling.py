"""Upsampling layers: ``interpolate`` (``ember.nn.functional.upsampling``) as a module, PyTorch's names.

The segmentation lecture's "in-network upsampling" without learned weights: nearest neighbour and bilinear.
"""

from __future__ import annotations

from collections.abc import Sequence

from ember.autograd import Tensor
from ember.nn.functional.upsampling import interpolate
from ember.nn.module import Module


class Upsample(Module):
    """``interpolate`` as a layer: ``Upsample(scale_factor=2, mode='bilinear')`` (torch.nn.Upsample)."""

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
    ) -> None:
        super().__init__()
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners

    def forward(self, input: Tensor) -> Tensor:
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode='{self.mode}'"


class UpsamplingNearest2d(Upsample):
    """``Upsample(mode='nearest')`` (torch.nn.UpsamplingNearest2d)."""

    def __init__(
        self, size: int | Sequence[int] | None = None, scale_factor: float | Sequence[float] | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(mode='bilinear', align_corners=True)`` (torch.nn.UpsamplingBilinear2d)."""

    def __init__(
        self, size: int | Sequence[int] | None = None, scale_factor: float | Sequence[float] | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
