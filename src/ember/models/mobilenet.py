"""MobileNet (Howard et al. 2017, "MobileNets: efficient convolutional neural networks for mobile vision
applications").

Depthwise separable convolutions: factor a standard K x K convolution over M input and N output channels
into a depthwise K x K convolution (one filter per input channel, ``groups=M``) that filters, followed by
a pointwise 1x1 convolution that combines channels. Cost D_F^2 M (K^2 + N) instead of D_F^2 M N K^2, a
factor 1/N + 1/K^2 of it: 8 to 9 times fewer multiply-adds for 3x3 kernels, at a small cost in accuracy.
Each of the two is followed by batch norm and ReLU.

MobileNet (v1): a 3x3 stride-2 conv with 32 filters, 13 depthwise separable blocks (stride 2 where the
channels double, 64 to 1024), global average pooling and a linear layer: 4,231,976 parameters and 569M
multiply-adds at 224x224 (the paper's 4.2M and 569M; ``ember.summary`` counts them). ``width_mult``
(alpha) thins every layer. Initialization: He normal (fan-out) for convs, N(0, 0.01) for the linear layer,
as torchvision's MobileNets. ``first_stride=1`` keeps more resolution for 32x32 inputs.
"""

from __future__ import annotations

from ember import nn
from ember.autograd import Tensor
from ember.models.layers import ConvBNReLU, gaussian_001, he_normal_fan_out, initialize, pool_and_classify
from ember.models.registry import register_model

# (output channels, stride) of the 13 depthwise separable blocks (the paper's Table 1).
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise conv (groups = channels) -> BN -> ReLU -> 1x1 pointwise conv -> BN -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.add_module("depthwise", ConvBNReLU(in_channels, in_channels, 3, stride, 1, groups=in_channels))
        self.add_module("pointwise", ConvBNReLU(in_channels, out_channels, 1))


class MobileNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        width_mult: float = 1.0,
        first_stride: int = 2,
    ) -> None:
        super().__init__()
        channels = int(32 * width_mult)
        layers: list[nn.Module] = [ConvBNReLU(in_channels, channels, 3, first_stride, 1)]
        for out_channels, stride in BLOCKS:
            layers.append(DepthwiseSeparable(channels, int(out_channels * width_mult), stride))
            channels = int(out_channels * width_mult)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)
        initialize(self, conv=he_normal_fan_out, linear=gaussian_001)

    def forward(self, x: Tensor) -> Tensor:
        return pool_and_classify(self.avgpool, self.fc, self.features(x))


@register_model("MobileNet v1 (Howard et al. 2017): 13 depthwise separable blocks, width multiplier")
def mobilenet_v1(
    num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0, first_stride: int = 2
) -> MobileNet:
    return MobileNet(num_classes, in_channels, width_mult, first_stride)
