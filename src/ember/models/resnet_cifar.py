"""The CIFAR-10 ResNets of He et al. 2015 (section 4.2) and the pre-activation ResNets of He et al. 2016.

CIFAR ResNets (``resnet20`` ... ``resnet110``), 6n + 2 layers: a 3x3 conv with 16 filters, three stages
of n basic blocks on 32x32, 16x16 and 8x8 maps with 16, 32 and 64 filters, global average pooling and a
10-way linear layer. The shortcuts are the paper's option A on CIFAR ("we use identity shortcuts in all
cases"): parameter-free, subsampling by 2 and padding the new channels with zeros; ``shortcut="B"``
uses 1x1 projections with batch norm instead. Parameters for 10 classes: ResNet-20 269,722 (the paper's
0.27M), -32 464,154 (0.46M), -44 658,586 (0.66M), -56 853,018 (0.85M), -110 1,727,962 (1.7M). The paper's
experiment: plain 20/32/44/56-layer nets get worse as they deepen, the ResNets better.

Pre-activation ResNet (He et al. 2016, "Identity mappings in deep residual networks"): BN and ReLU move
before each conv (BN -> ReLU -> conv -> BN -> ReLU -> conv), so the shortcut path is a clean identity
from any block to any later one, x_L = x_l + sum of F: the signal and its gradient propagate directly, and
1001-layer nets train. A projection shortcut (1x1 conv) takes the block's pre-activated input, and a
final BN-ReLU comes before the pooling. The paper's CIFAR networks: ``preact_resnet110`` (basic blocks,
1,730,522 parameters), ``preact_resnet164`` (1x1-3x3-1x1 bottlenecks, 1,703,258; the paper's 1.7M) and
``preact_resnet1001`` (10,327,706; the paper says 10.2M).

The pre-activation block also serves Wide ResNet (``wide_resnet.py``), with dropout between its convs.
Initialization: He et al. 2015 (normal, fan-out) for the convs, as the papers did (their reference [13]).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ember import nn
from ember.autograd import Tensor
from ember.models.registry import variant
from ember.models.resnet import BasicBlock, ResNet, conv1x1, conv3x3

CIFAR = (3, 32, 32)


class PreActBlock(nn.Module):
    """x + F(ReLU(BN(x))), with the projection shortcut (if any) also on ReLU(BN(x))."""

    expansion = 1
    downsample: nn.Module | None

    def __init__(self, inplanes: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def residual(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        activated = self.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(activated)
        return self.residual(activated) + shortcut


class PreActBasicBlock(PreActBlock):
    """F = conv3x3 -> BN -> ReLU -> (dropout, Wide ResNet) -> conv3x3, on the pre-activated input."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(inplanes, downsample)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else None
        self.conv2 = conv3x3(planes, planes)

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn2(self.conv1(x)))
        if self.dropout is not None:
            out = self.dropout(out)
        return self.conv2(out)


class PreActBottleneck(PreActBlock):
    """F = conv1x1 -> BN -> ReLU -> conv3x3 (strided) -> BN -> ReLU -> conv1x1 (x4 channels)."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__(inplanes, downsample)
        self.conv1 = conv1x1(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn2(self.conv1(x)))
        out = self.relu(self.bn3(self.conv2(out)))
        return self.conv3(out)


def cifar_resnet(
    block: Any, blocks_per_stage: int, num_classes: int = 10, in_channels: int = 3, **options: Any
) -> ResNet:
    """Three stages of ``blocks_per_stage`` blocks with 16, 32, 64 planes on a 3x3 stem of 16 filters."""
    preactivated = issubclass(block, PreActBlock)
    options.setdefault("shortcut", "conv" if preactivated else "A")
    options.setdefault("planes", (16, 32, 64))
    options.setdefault("stem_channels", 16)
    return ResNet(
        block,
        [blocks_per_stage] * 3,
        num_classes,
        in_channels,
        stem="preact" if preactivated else "cifar",
        **options,
    )


def _cifar(name: str, description: str, block: Any, depth: int) -> Callable[..., ResNet]:
    per_block = 3 if block is PreActBottleneck else 2
    blocks = (depth - 2) // (3 * per_block)
    return variant(name, description, cifar_resnet, CIFAR, 10, block=block, blocks_per_stage=blocks)


_he2015 = "(He et al. 2015), CIFAR, option A shortcuts"
resnet20 = _cifar("resnet20", f"ResNet-20 {_he2015}", BasicBlock, 20)
resnet32 = _cifar("resnet32", f"ResNet-32 {_he2015}", BasicBlock, 32)
resnet44 = _cifar("resnet44", f"ResNet-44 {_he2015}", BasicBlock, 44)
resnet56 = _cifar("resnet56", f"ResNet-56 {_he2015}", BasicBlock, 56)
resnet110 = _cifar("resnet110", f"ResNet-110 {_he2015}", BasicBlock, 110)
_he2016 = "(He et al. 2016), CIFAR"
preact_resnet20 = _cifar("preact_resnet20", f"Pre-activation ResNet-20 {_he2016}", PreActBasicBlock, 20)
preact_resnet110 = _cifar("preact_resnet110", f"Pre-activation ResNet-110 {_he2016}", PreActBasicBlock, 110)
preact_resnet164 = _cifar(
    "preact_resnet164", f"Pre-activation ResNet-164 {_he2016}, bottlenecks", PreActBottleneck, 164
)
preact_resnet1001 = _cifar(
    "preact_resnet1001", f"Pre-activation ResNet-1001 {_he2016}, bottlenecks", PreActBottleneck, 1001
)
