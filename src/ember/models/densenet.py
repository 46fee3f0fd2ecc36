"""DenseNet (Huang, Liu, van der Maaten and Weinberger 2017, "Densely connected convolutional networks").

Dense blocks where each layer is connected to every other layer in feed-forward fashion: layer l receives
the concatenation of the maps of all layers before it in the block, x_l = H_l([x_0, x_1, ..., x_{l-1}]),
and adds k new maps (the growth rate). Features are reused instead of relearned, so the layers can be
narrow (k = 32) and the network has few parameters; every layer has a short path to the loss, which
alleviates vanishing gradients. DenseNet-BC: H_l is BN -> ReLU -> 1x1 conv to 4k maps (the bottleneck)
-> BN -> ReLU -> 3x3 conv to k maps, and the transition layers between blocks (BN -> ReLU -> 1x1 conv ->
2x2 average pool) halve the number of maps (compression 0.5).

``densenet121`` (blocks of 6, 12, 24, 16 layers, 7,978,856 parameters), ``densenet169`` (6, 12, 32, 32),
``densenet201`` and ``densenet161`` (k = 48) have torchvision's structure, state-dict keys
(``features.denseblock1.denselayer1.norm1.weight``, ``features.transition1.conv.weight``) and
initialization (He normal, fan-in, for convs; zero linear bias).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.layers import he_normal_fan_in, initialize, pool_and_classify
from ember.models.registry import variant


class _DenseLayer(nn.Module):
    """BN -> ReLU -> 1x1 conv (bn_size * k) -> BN -> ReLU -> 3x3 conv (k) on the concatenated inputs."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int, drop_rate: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False)
        self.dropout = nn.Dropout(p=drop_rate) if drop_rate > 0 else None

    def forward(self, features: list[Tensor]) -> Tensor:
        bottleneck = self.conv1(self.relu1(self.norm1(ops.cat(features, 1))))
        new_features = self.conv2(self.relu2(self.norm2(bottleneck)))
        return self.dropout(new_features) if self.dropout is not None else new_features


class _DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; each sees every earlier output, the block returns them all."""

    def __init__(
        self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int, drop_rate: float
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features: Tensor) -> Tensor:
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return ops.cat(features, 1)


class _Transition(nn.Sequential):
    """BN -> ReLU -> 1x1 conv (compression) -> 2x2 average pool."""

    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(num_input_features))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(num_input_features, num_output_features, kernel_size=1, bias=False))
        self.add_module("pool", nn.AvgPool2d(kernel_size=2, stride=2))


class DenseNet(nn.Module):
    """DenseNet-BC: 7x7 stem and max pool, dense blocks with transitions between them, BN, pool, linear."""

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv0", nn.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
                ]
            )
        )
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers, channels, bn_size, growth_rate, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(channels, num_classes)
        initialize(self, conv=he_normal_fan_in, linear=None)

    def forward(self, x: Tensor) -> Tensor:
        return pool_and_classify(self.avgpool, self.classifier, self.relu(self.features(x)))


def _densenet(
    depth: int, growth_rate: int, blocks: tuple[int, ...], init_features: int
) -> Callable[..., DenseNet]:
    description = f"DenseNet-{depth} (Huang et al. 2017), growth rate {growth_rate}, torchvision's"
    return variant(
        f"densenet{depth}",
        description,
        DenseNet,
        growth_rate=growth_rate,
        block_config=blocks,
        num_init_features=init_features,
        min_size=29,
    )


densenet121 = _densenet(121, 32, (6, 12, 24, 16), 64)
densenet161 = _densenet(161, 48, (6, 12, 36, 24), 96)
densenet169 = _densenet(169, 32, (6, 12, 32, 32), 64)
densenet201 = _densenet(201, 32, (6, 12, 48, 32), 64)
