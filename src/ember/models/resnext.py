"""ResNeXt (Xie, Girshick, Dollar, Tu and He 2017, "Aggregated residual transformations for deep neural
networks").

Apply the Inception idea of split-transform-merge to the residual block, with one simple rule: the
bottleneck's 3x3 layer becomes C parallel paths ("cardinality" C), each a 1x1 -> 3x3 -> 1x1 transform of
width d, summed. The paper shows that the C paths are exactly one bottleneck whose 3x3 conv is a grouped
convolution with C groups over C x d channels. Increasing cardinality is a more effective way to gain
accuracy than going deeper or wider at the same cost: ResNeXt-50 (32x4d) beats ResNet-50 with about the
same parameters (25.0M vs 25.6M) and multiply-adds.

``resnext50_32x4d``, ``resnext101_32x8d`` and ``resnext101_64x4d`` are torchvision's (ResNet with
``groups=C`` and ``width_per_group=d``; same keys). ``resnext29_8x64d`` and ``resnext29_16x64d`` are the
paper's CIFAR networks: a 3x3 conv with 64 filters, three stages of three bottlenecks with outputs 256,
512, 1024 and bottleneck widths C x d doubling per stage (the paper's 34.4M and 68.1M parameters).
"""

from __future__ import annotations

from collections.abc import Callable

from ember.models.registry import variant
from ember.models.resnet import Bottleneck, ResNet
from ember.models.resnet_cifar import CIFAR


def _imagenet(layers: list[int], cardinality: int, width: int) -> Callable[..., ResNet]:
    depth = 3 * sum(layers) + 2
    description = f"ResNeXt-{depth} {cardinality}x{width}d (Xie et al. 2017), grouped convs, torchvision's"
    return variant(
        f"resnext{depth}_{cardinality}x{width}d",
        description,
        ResNet,
        block=Bottleneck,
        layers=layers,
        groups=cardinality,
        width_per_group=width,
    )


def _cifar(cardinality: int, width: int) -> Callable[..., ResNet]:
    description = f"ResNeXt-29 {cardinality}x{width}d (Xie et al. 2017), CIFAR"
    return variant(
        f"resnext29_{cardinality}x{width}d",
        description,
        ResNet,
        CIFAR,
        10,
        block=Bottleneck,
        layers=[3, 3, 3],
        groups=cardinality,
        width_per_group=width,
        planes=(64, 128, 256),
        stem="cifar",
    )


resnext50_32x4d = _imagenet([3, 4, 6, 3], 32, 4)
resnext101_32x8d = _imagenet([3, 4, 23, 3], 32, 8)
resnext101_64x4d = _imagenet([3, 4, 23, 3], 64, 4)
resnext29_8x64d = _cifar(8, 64)
resnext29_16x64d = _cifar(16, 64)
