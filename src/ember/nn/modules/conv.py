"""Convolutional layers: ``Conv2d`` and ``ConvTranspose2d``.

The lecture's CONV layer (LeCun et al. 1998): K filters of spatial extent F, stride S and zero padding P turn
a W1 x H1 x D1 volume into W2 x H2 x K with W2 = (W1 - F + 2P) / S + 1, with F F D1 weights per filter and K
biases (parameter sharing: one filter slides over every position). Ten 5x5 filters on a 32x32x3 input with
stride 1 and pad 2 have 10 (5 5 3 + 1) = 760 parameters and give a 10x32x32 output; AlexNet's first layer
(96 11x11 filters, stride 4, on 227x227x3) gives 55x55x96. ``ConvTranspose2d`` (Dumoulin and Visin 2016)
upsamples: it is the gradient of a convolution with respect to its input, used as a layer.

Both initialize as PyTorch does: W by ``kaiming_uniform_(a=sqrt(5))`` (U(-1/sqrt(fan_in), 1/sqrt(fan_in)))
and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The computation is in ``ember.nn.functional.conv``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ember.autograd import Tensor
from ember.nn import init
from ember.nn.functional import conv as F
from ember.nn.functional.conv import IntPair, pair
from ember.nn.module import Module
from ember.nn.modules.linear import init_bias_from_fan_in, new_parameter
from ember.nn.shape_check import input_shape_error

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: settings, parameters, initialization, repr, input check."""

    transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: str | IntPair = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        output_padding: IntPair = 0,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = pair(stride, "stride", name)
        self.dilation = pair(dilation, "dilation", name)
        self.padding: str | tuple[int, int] = (
            padding if isinstance(padding, str) else pair(padding, "padding", name)
        )
        self.output_padding = pair(output_padding, "output_padding", name)
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            F.resolve_padding(padding, self.kernel_size, self.stride, self.dilation, name)  # checks 'same'
        shape = (
            (in_channels, out_channels // groups, *self.kernel_size)
            if self.transposed
            else (out_channels, in_channels // groups, *self.kernel_size)
        )
        self.weight = new_parameter(shape, dtype)
        self.register_parameter("bias", new_parameter((out_channels,), dtype) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        init_bias_from_fan_in(self.bias, self.weight)

    def _check_input(self, input: Tensor) -> None:
        shape = tuple(input.shape)
        channels = shape[-3] if len(shape) in (3, 4) else None
        if channels != self.in_channels:
            raise input_shape_error(
                self, f"(N, {self.in_channels}, H, W) or ({self.in_channels}, H, W)", shape
            )

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        )
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv2d(_ConvNd):
    """2-d convolution: (N, C_in, H, W) -> (N, C_out, H_out, W_out), weight (C_out, C_in / groups, kh, kw).

    ``padding`` is an int, a pair, ``'valid'`` (none) or ``'same'`` (output as large as the input, stride
    1); ``padding_mode`` is ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
    """

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        padding: str | IntPair = self.padding
        if self.padding_mode != "zeros":
            top, bottom, left, right = F.resolve_padding(
                padding, self.kernel_size, self.stride, self.dilation, "Conv2d"
            )
            input = F.pad2d(input, (left, right, top, bottom), self.padding_mode)
            padding = 0
        return F.conv2d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-d convolution (learned upsampling): (N, C_in, H, W) -> (N, C_out, H_out, W_out) with
    H_out = (H - 1) S - 2 P + D (F - 1) + output_padding + 1; weight (C_in, C_out / groups, kh, kw)."""

    transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        output_padding: IntPair = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntPair = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(
                f'Only "zeros" padding mode is supported for ConvTranspose2d, got {padding_mode!r}'
            )
        if isinstance(padding, str):
            raise ValueError("ConvTranspose2d: padding must be an int or a pair, not a string")
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            output_padding=output_padding, dtype=dtype,
        )  # fmt: skip

    def _output_padding(self, input: Tensor, output_size: Sequence[int] | None) -> tuple[int, int]:
        """output_padding that makes the output ``output_size`` (PyTorch's rule: within a stride)."""
        if output_size is None:
            return self.output_padding
        wanted = tuple(int(v) for v in output_size)[-2:]
        if len(wanted) != 2:
            raise ValueError(
                f"ConvTranspose2d: output_size must have 2 or 4 elements, got {tuple(output_size)}"
            )
        assert isinstance(self.padding, tuple)
        smallest = F.transposed_output_size(
            tuple(input.shape[-2:]), self.kernel_size, self.stride, self.padding, (0, 0), self.dilation
        )
        extra = []
        for d, (size, low, stride) in enumerate(zip(wanted, smallest, self.stride, strict=True)):
            if not low <= size <= low + stride - 1:
                raise ValueError(
                    f"ConvTranspose2d: requested an output size of {wanted}, but valid sizes range from "
                    f"{smallest} to {tuple(s + st - 1 for s, st in zip(smallest, self.stride, strict=True))} "
                    f"(for an input of {tuple(input.shape[-2:])}; dimension {d})"
                )
            extra.append(size - low)
        return extra[0], extra[1]

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        self._check_input(input)
        output_padding = self._output_padding(input, output_size)
        assert isinstance(self.padding, tuple)
        return F.conv_transpose2d(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )
