"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, their adaptive forms, and ``MaxUnpool2d``.

The lecture's POOL layer downsamples each activation map independently: a 2x2 max pool at stride 2 keeps
one value in four. It has no parameters. ``MaxUnpool2d`` (Zeiler and Fergus 2014) reverses a max pool for
upsampling networks, using the positions the pool remembered (``return_indices=True``). The computation
is in ``ember.nn.functional.pooling``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ember.autograd import Tensor
from ember.nn.functional import pooling as F
from ember.nn.functional.conv import IntPair, pair
from ember.nn.module import Module
from ember.nn.shape_check import input_shape_error


def _check_input(layer: Module, input: Tensor) -> None:
    if input.ndim not in (3, 4):
        raise input_shape_error(layer, "(N, C, H, W) or (C, H, W)", input.shape)


class _Pool(Module):
    """Shared settings and repr of the windowed pools (stride defaults to the kernel size)."""

    def __init__(
        self, kernel_size: IntPair, stride: IntPair | None, padding: IntPair, ceil_mode: bool
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode


class MaxPool2d(_Pool):
    """Maximum over each kernel_size window; ``return_indices`` also returns the positions (for unpooling)."""

    def __init__(
        self,
        kernel_size: IntPair,
        stride: IntPair | None = None,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = dilation
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        _check_input(self, input)
        return F.max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(_Pool):
    """Mean over each window; padded cells count unless ``count_include_pad=False``."""

    def __init__(
        self,
        kernel_size: IntPair,
        stride: IntPair | None = None,
        padding: IntPair = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        _check_input(self, input)
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (e.g. 1 for global average pooling before the classifier)."""

    def __init__(self, output_size: F.OutputSize) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        _check_input(self, input)
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size; ``return_indices`` also returns the positions of the maxima."""

    def __init__(self, output_size: F.OutputSize, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        _check_input(self, input)
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxUnpool2d(Module):
    """Partial inverse of MaxPool2d: each value back at its remembered position, zeros elsewhere."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> None:
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", "MaxUnpool2d")
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", "MaxUnpool2d")
        self.padding = pair(padding, "padding", "MaxUnpool2d")

    def forward(self, input: Tensor, indices: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        _check_input(self, input)
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
