"""Wide Residual Networks (Zagoruyko and Komodakis 2016).

Residuals are what matter, not extreme depth: increase the width (filters per layer) instead of the
depth. Wide nets are more computationally efficient (wide convolutions parallelize well on GPUs) and a
16-layer wide net beat 1000-layer thin ones. WRN-d-k has depth d = 6n + 4 and widening factor k: a 3x3 conv
with 16 filters, three stages of n pre-activation basic blocks with 16k, 32k and 64k filters, a final
BN-ReLU, global average pooling and a linear layer; dropout between the two convs of each block
(``dropout=0.3`` in the paper's best runs) regularizes the wider blocks. Shortcuts are 1x1 convs where the
shape changes. Parameters (10 classes): WRN-16-4 2.7M, WRN-16-8 11.0M, WRN-28-10 36.5M, WRN-40-4 8.9M.

torchvision's ``wide_resnet50_2`` and ``wide_resnet101_2`` are the other reading of the idea: ImageNet
ResNet-50/101 whose bottleneck 3x3 layers are twice as wide (``width_per_group=128``), outer widths
unchanged; their structure and keys are torchvision's, so weights interchange.
"""

from __future__ import annotations

from collections.abc import Callable

from ember.models.registry import variant
from ember.models.resnet import Bottleneck, ResNet
from ember.models.resnet_cifar import CIFAR, PreActBasicBlock, cifar_resnet


def wide_resnet(
    depth: int, k: int, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.0
) -> ResNet:
    """WRN-``depth``-``k`` for 32x32 images: depth = 6n + 4, widths 16k, 32k, 64k."""
    if (depth - 4) % 6:
        raise ValueError(f"wide_resnet: depth must be 6n + 4 (16, 22, 28, 40, ...), got {depth}")
    planes = (16 * k, 32 * k, 64 * k)
    return cifar_resnet(
        PreActBasicBlock, (depth - 4) // 6, num_classes, in_channels, planes=planes, dropout=dropout
    )


def _wrn(depth: int, k: int) -> Callable[..., ResNet]:
    description = f"WRN-{depth}-{k} (Zagoruyko & Komodakis 2016), pre-activation blocks, CIFAR"
    return variant(f"wrn{depth}_{k}", description, wide_resnet, CIFAR, 10, depth=depth, k=k)


wrn16_4 = _wrn(16, 4)
wrn16_8 = _wrn(16, 8)
wrn28_10 = _wrn(28, 10)
wrn40_4 = _wrn(40, 4)


def _torchvision(depth: int, layers: list[int]) -> Callable[..., ResNet]:
    description = f"Wide ResNet-{depth}-2: ResNet-{depth} with 2x wider bottlenecks, torchvision's"
    return variant(
        f"wide_resnet{depth}_2", description, ResNet, block=Bottleneck, layers=layers, width_per_group=128
    )


wide_resnet50_2 = _torchvision(50, [3, 4, 6, 3])
wide_resnet101_2 = _torchvision(101, [3, 4, 23, 3])
