"""ResNet (He, Zhang, Ren and Sun 2015, "Deep residual learning for image recognition").

Is learning better networks as easy as stacking more layers? No: a plain 56-layer net has *higher*
training error than a 20-layer one, so the problem is optimization, not overfitting. A deeper net could
copy the shallower one and add identity layers, yet solvers do not find that solution. The fix is to let
a few stacked layers fit a residual mapping F(x) = H(x) - x instead of the desired H(x): the block
computes H(x) = F(x) + x with a shortcut connection, and pushing F towards 0 is easy when the identity is
near optimal. Gradients also flow unchanged through the additions.

- ``BasicBlock``: two 3x3 convs (ResNet-18/34 and the CIFAR nets).
- ``Bottleneck``: 1x1 (reduce depth) -> 3x3 -> 1x1 (restore, x4): the same cost as a basic block with four
  times the channels, which is what makes ResNet-50/101/152 affordable. ``groups`` and
  ``width_per_group`` make it ResNeXt's and Wide ResNet's block (torchvision's parametrization).
- Shortcuts when the shape changes: option A pads the new channels with zeros and subsamples (no
  parameters; the paper's CIFAR nets), option B projects with a strided 1x1 conv and batch norm
  (torchvision's ``downsample``), ``"conv"`` a bare 1x1 conv (pre-activation nets, where the block's own
  BN-ReLU comes first).
- ``ResNet``: a stem, stages of blocks (spatial size /2 and filters x2 at each new stage), global average
  pooling and one linear layer: no max pooling inside, no hidden FC layers, no dropout. The stem is
  ImageNet's (7x7/2 conv, 3x3/2 max pool), CIFAR's (one 3x3 conv) or a pre-activation net's (a 3x3 conv
  whose BN-ReLU is done by the first block; a final BN-ReLU comes before the pooling).

``resnet18`` ... ``resnet152`` have torchvision's structure, state-dict keys (``layer1.0.conv1.weight``,
``layer2.0.downsample.0.weight``, ``fc.bias``) and initialization (He normal, fan-out, for convs; batch norm
gamma = 1, beta = 0; PyTorch's default for the linear layer), so weights interchange.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.layers import he_normal_fan_out, initialize, pool_and_classify
from ember.models.registry import variant
from ember.nn import init


def conv3x3(
    in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    return nn.Conv2d(
        in_planes,
        out_planes,
        3,
        stride=stride,
        padding=dilation,
        groups=groups,
        bias=False,
        dilation=dilation,
    )


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ResidualBlock(nn.Module):
    """relu(F(x) + shortcut(x)); subclasses define the residual branch F in ``residual``."""

    expansion = 1
    downsample: nn.Module | None

    def residual(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.residual(x) + identity)


class BasicBlock(ResidualBlock):
    """F(x) = BN(conv3x3(ReLU(BN(conv3x3(x))))): two 3x3 layers."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64 (use Bottleneck)")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def residual(self, x: Tensor) -> Tensor:
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


class Bottleneck(ResidualBlock):
    """F(x): 1x1 reduce -> 3x3 (grouped for ResNeXt, strided) -> 1x1 expand to ``planes * 4``."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


class ZeroPadShortcut(nn.Module):
    """Option A: identity on the old channels (subsampled by ``stride``), zeros for the new ones."""

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.extra, self.stride = out_planes - in_planes, stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return ops.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x

    def extra_repr(self) -> str:
        return f"extra_channels={self.extra}, stride={self.stride}"


def projection(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    """Option B: strided 1x1 conv and batch norm (torchvision's ``downsample``)."""
    return nn.Sequential(conv1x1(in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))


SHORTCUTS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "A": ZeroPadShortcut,
    "B": projection,
    "conv": conv1x1,
}


def make_stage(
    block: Any, inplanes: int, planes: int, blocks: int, stride: int, shortcut: str, **options: Any
) -> tuple[nn.Sequential, int]:
    """``blocks`` residual blocks; the first one strides and carries the shortcut if the shape changes."""
    outplanes = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != outplanes:
        downsample = SHORTCUTS[shortcut](inplanes, outplanes, stride)
    layers = [block(inplanes, planes, stride, downsample, **options)]
    layers += [block(outplanes, planes, **options) for _ in range(1, blocks)]
    return nn.Sequential(*layers), outplanes


class ResNet(nn.Module):
    """stem -> ``layer1`` ... ``layerN`` (one per entry of ``layers``) -> global average pool -> ``fc``."""

    def __init__(
        self,
        block: Any,
        layers: Sequence[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        planes: Sequence[int] = (64, 128, 256, 512),
        stem: str = "imagenet",
        stem_channels: int = 64,
        shortcut: str = "B",
        **block_options: Any,
    ) -> None:
        super().__init__()
        if stem not in ("imagenet", "cifar", "preact"):
            raise ValueError(f"ResNet: stem must be 'imagenet', 'cifar' or 'preact', not {stem!r}")
        self.inplanes = stem_channels
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = conv3x3(in_channels, stem_channels)
        self.bn1 = nn.BatchNorm2d(stem_channels) if stem != "preact" else None
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem == "imagenet" else None
        self.stage_names = [f"layer{i + 1}" for i in range(len(layers))]
        options = dict(block_options, groups=groups, base_width=width_per_group)
        for i, (name, width, count) in enumerate(zip(self.stage_names, planes, layers, strict=True)):
            stage, self.inplanes = make_stage(
                block, self.inplanes, width, count, 1 if i == 0 else 2, shortcut, **options
            )
            setattr(self, name, stage)
        self.bn = nn.BatchNorm2d(self.inplanes) if stem == "preact" else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)
        initialize(self, conv=he_normal_fan_out, linear=None, linear_bias=None)
        if zero_init_residual:  # each block starts as the identity (Goyal et al. 2017)
            for module in self.modules():
                if isinstance(module, Bottleneck):
                    init.zeros_(module.bn3.weight)
                elif isinstance(module, BasicBlock):
                    init.zeros_(module.bn2.weight)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.relu(self.bn1(x))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        if self.bn is not None:
            x = self.relu(self.bn(x))
        return pool_and_classify(self.avgpool, self.fc, x)


_tv = "(He et al. 2015), torchvision's"
resnet18 = variant(
    "resnet18", f"ResNet-18 {_tv}, basic blocks", ResNet, block=BasicBlock, layers=[2, 2, 2, 2]
)
resnet34 = variant(
    "resnet34", f"ResNet-34 {_tv}, basic blocks", ResNet, block=BasicBlock, layers=[3, 4, 6, 3]
)
resnet50 = variant("resnet50", f"ResNet-50 {_tv}, bottlenecks", ResNet, block=Bottleneck, layers=[3, 4, 6, 3])
resnet101 = variant(
    "resnet101", f"ResNet-101 {_tv}, bottlenecks", ResNet, block=Bottleneck, layers=[3, 4, 23, 3]
)
resnet152 = variant(
    "resnet152", f"ResNet-152 {_tv}, bottlenecks", ResNet, block=Bottleneck, layers=[3, 8, 36, 3]
)
