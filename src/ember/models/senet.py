"""Squeeze-and-excitation networks (Hu, Shen and Sun 2018; ILSVRC 2017 winner).

A gating mechanism for the network to select the most important channels. The SE block:

- squeeze: per-channel statistics, global average pooling of each of the C maps to one number;
- excitation: a two-layer model, FC C -> C/r -> ReLU -> FC C/r -> C -> sigmoid, that predicts a weight in
  (0, 1) for each channel from those statistics (r = 16, the reduction ratio);
- scale: multiply each input channel by its weight.

In SE-ResNet the block recalibrates the residual branch before the addition: x + SE(F(x)). It adds about
10% parameters (SE-ResNet-50: 28,088,024 against ResNet-50's 25,557,032; the paper's 28.1M) and little
computation. ``se_resnet18`` ... ``se_resnet152`` follow torchvision's ResNet (so only the ``se.*`` keys
are new); ``se_resnet20`` and ``se_resnet56`` are CIFAR ResNets with SE blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.registry import variant
from ember.models.resnet import BasicBlock, Bottleneck, ResidualBlock, ResNet
from ember.models.resnet_cifar import CIFAR, cifar_resnet


class SqueezeExcitation(nn.Module):
    """x * sigmoid(fc2(relu(fc1(mean over H, W of x)))), one weight per channel."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        squeezed = x.mean(dim=(2, 3))
        weights = self.sigmoid(self.fc2(self.relu(self.fc1(squeezed))))
        return x * ops.reshape(weights, (*weights.shape, 1, 1))


class _SqueezeExcited(ResidualBlock):
    """Adds an SE block to a residual block's branch: relu(shortcut(x) + SE(F(x)))."""

    def __init__(self, inplanes: int, planes: int, *args: Any, reduction: int = 16, **options: Any) -> None:
        super().__init__(inplanes, planes, *args, **options)  # type: ignore[call-arg]  # the block's own
        self.se = SqueezeExcitation(planes * self.expansion, reduction)

    def residual(self, x: Tensor) -> Tensor:
        return self.se(super().residual(x))


class SEBasicBlock(_SqueezeExcited, BasicBlock):
    """A basic residual block with an SE block on its residual branch."""


class SEBottleneck(_SqueezeExcited, Bottleneck):
    """A bottleneck residual block with an SE block on its residual branch."""


def _imagenet(block: Any, layers: list[int]) -> Callable[..., ResNet]:
    depth = sum(layers) * (3 if block is SEBottleneck else 2) + 2
    description = f"SE-ResNet-{depth} (Hu et al. 2018): torchvision's ResNet-{depth} with SE blocks"
    return variant(f"se_resnet{depth}", description, ResNet, block=block, layers=layers)


def _cifar(depth: int) -> Callable[..., ResNet]:
    description = f"SE-ResNet-{depth} (Hu et al. 2018), CIFAR, option A shortcuts"
    return variant(
        f"se_resnet{depth}",
        description,
        cifar_resnet,
        CIFAR,
        10,
        block=SEBasicBlock,
        blocks_per_stage=(depth - 2) // 6,
    )


se_resnet18 = _imagenet(SEBasicBlock, [2, 2, 2, 2])
se_resnet34 = _imagenet(SEBasicBlock, [3, 4, 6, 3])
se_resnet50 = _imagenet(SEBottleneck, [3, 4, 6, 3])
se_resnet101 = _imagenet(SEBottleneck, [3, 4, 23, 3])
se_resnet152 = _imagenet(SEBottleneck, [3, 8, 36, 3])
se_resnet20 = _cifar(20)
se_resnet56 = _cifar(56)
