"""SqueezeNet (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB
model size").

Three strategies to shrink a CNN: replace 3x3 filters with 1x1 ones (9x fewer parameters), feed the
remaining 3x3 filters fewer input channels, and downsample late so that the conv layers see large maps.
The Fire module does the first two: a "squeeze" 1x1 conv layer with few filters, then an "expand" layer of
1x1 and 3x3 filters side by side, concatenated. There are no fully connected layers: a final 1x1 conv
gives one map per class, averaged over the image. SqueezeNet 1.0 has 1,248,424 parameters (AlexNet: 61M);
1.1 (a 3x3 first conv and earlier pooling) has 1,235,496 and 2.4x less computation.

Structure, keys (``features.3.squeeze.weight``, ``classifier.1.weight``) and initialization (He uniform
for convs, N(0, 0.01) for the final one, zero biases) are torchvision's.
"""

from __future__ import annotations

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.layers import gaussian_001, initialize
from ember.models.registry import variant
from ember.nn import init


class Fire(nn.Module):
    """squeeze 1x1 -> ReLU -> [expand 1x1 -> ReLU | expand 3x3 -> ReLU], concatenated."""

    def __init__(
        self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int
    ) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        left = self.expand1x1_activation(self.expand1x1(x))
        return ops.cat([left, self.expand3x3_activation(self.expand3x3(x))], 1)


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


class SqueezeNet(nn.Module):
    def __init__(
        self, version: str = "1_0", num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5
    ):
        super().__init__()
        self.num_classes = num_classes
        if version == "1_0":
            layers = [
                nn.Conv2d(in_channels, 96, kernel_size=7, stride=2),
                nn.ReLU(inplace=True),
                _pool(),
                Fire(96, 16, 64, 64),
                Fire(128, 16, 64, 64),
                Fire(128, 32, 128, 128),
                _pool(),
                Fire(256, 32, 128, 128),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                _pool(),
                Fire(512, 64, 256, 256),
            ]
        elif version == "1_1":
            layers = [
                nn.Conv2d(in_channels, 64, kernel_size=3, stride=2),
                nn.ReLU(inplace=True),
                _pool(),
                Fire(64, 16, 64, 64),
                Fire(128, 16, 64, 64),
                _pool(),
                Fire(128, 32, 128, 128),
                Fire(256, 32, 128, 128),
                _pool(),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            ]
        else:
            raise ValueError(f"SqueezeNet: unsupported version {version!r}: '1_0' or '1_1' expected")
        self.features = nn.Sequential(*layers)
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )
        initialize(self, conv=init.kaiming_uniform_)
        gaussian_001(final_conv.weight)

    def forward(self, x: Tensor) -> Tensor:
        return ops.flatten(self.classifier(self.features(x)), 1)


squeezenet1_0 = variant(
    "squeezenet1_0",
    "SqueezeNet 1.0 (Iandola et al. 2016): fire modules, 50x fewer params than AlexNet",
    SqueezeNet,
    min_size=21,
    version="1_0",
)
squeezenet1_1 = variant(
    "squeezenet1_1",
    "SqueezeNet 1.1 (Iandola et al. 2016): 3x3 first conv, 2.4x less computation",
    SqueezeNet,
    min_size=17,
    version="1_1",
)
