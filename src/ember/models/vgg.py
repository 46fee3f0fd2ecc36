"""VGG (Simonyan and Zisserman 2014, "Very deep convolutional networks for large-scale image recognition").

Why smaller filters: a stack of three 3x3 conv layers (stride 1) has the receptive field of one 7x7
layer, but with three non-linearities instead of one (a more discriminative function) and fewer
parameters: 3 (3^2 C^2) = 27 C^2 against 7^2 C^2 = 49 C^2 for C channels in and out. VGG is that idea taken
to 11-19 weight layers: only 3x3 convs with padding 1 (the spatial size is kept) and 2x2 max pools
(halving it), channels doubling after each pool from 64 to 512, then FC-4096, FC-4096, FC-1000.

The configurations of the paper's Table 1 (columns A to E; ``cfgs`` below):

    A (VGG-11), A-LRN (A with local response normalization after the first layer, which the paper found
    did not help), B (VGG-13), C (VGG-16 with three of its 3x3 convs replaced by 1x1 ones),
    D (VGG-16), E (VGG-19); 133, 133, 133, 134, 138 and 144 million parameters.

``vgg16`` has 138,357,544 parameters, the lecture's "TOTAL params: 138M"; ``ember.summary`` reproduces its
per-layer table. The ``_bn`` variants insert batch norm after every conv (not in the paper; torchvision's).
Structure, state-dict keys (``features.0.weight`` ... ``classifier.6.bias``) and initialization (He,
fan-out, for the convs; N(0, 0.01) for the FC layers; zero biases) are torchvision's. The paper trained A
from N(0, 0.01) and the deeper nets from A's weights, noting that Glorot initialization works as well.
"""

from __future__ import annotations

from typing import Any

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.alexnet import lrn
from ember.models.layers import gaussian_001, he_normal_fan_out, initialize
from ember.models.registry import variant

# An int is a 3x3 conv with that many filters, (n, 1) a 1x1 conv, "M" a 2x2 max pool, "LRN" a local
# response normalization.
Layer = int | tuple[int, int] | str
# fmt: off
cfgs: dict[str, list[Layer]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M",
          512, 512, (512, 1), "M", 512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
          512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# fmt: on


def make_layers(cfg: list[Layer], batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """The conv part of a configuration: [conv3 (-> BN) -> ReLU] and pools, as torchvision numbers them."""
    layers: list[nn.Module] = []
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif item == "LRN":
            layers.append(lrn())
        else:
            channels, size = item if isinstance(item, tuple) else (int(item), 3)
            layers.append(nn.Conv2d(in_channels, channels, kernel_size=size, padding=size // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(channels))
            layers.append(nn.ReLU(inplace=True))
            in_channels = channels
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features`` -> adaptive average pool to ``pool_size`` -> FC -> ReLU -> Dropout -> FC -> ... -> FC."""

    def __init__(
        self,
        features: nn.Sequential,
        num_classes: int = 1000,
        dropout: float = 0.5,
        hidden: int = 4096,
        pool_size: int = 7,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        channels = [m.out_channels for m in features if isinstance(m, nn.Conv2d)][-1]
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(channels * pool_size * pool_size, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )
        if init_weights:
            initialize(self, conv=he_normal_fan_out, linear=gaussian_001)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(ops.flatten(self.avgpool(self.features(x)), 1))


def vgg(
    cfg: str, batch_norm: bool = False, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5
) -> VGG:
    """A VGG of the paper's configuration ``cfg`` ("A", "A-LRN", "B", "C", "D" or "E")."""
    return VGG(make_layers(cfgs[cfg], batch_norm, in_channels), num_classes, dropout)


_paper = "(Simonyan & Zisserman 2014), configuration"


def _variant(name: str, description: str, **fixed: Any) -> Any:
    # Five 2x2 poolings halve the side five times: 32 pixels is the least that leaves one (as torchvision's).
    return variant(name, description, vgg, min_size=32, **fixed)


vgg11 = _variant("vgg11", f"VGG-11 {_paper} A", cfg="A")
vgg11_bn = _variant("vgg11_bn", f"VGG-11 {_paper} A, with batch norm", cfg="A", batch_norm=True)
vgg11_lrn = _variant("vgg11_lrn", f"VGG-11 {_paper} A-LRN", cfg="A-LRN")
vgg13 = _variant("vgg13", f"VGG-13 {_paper} B", cfg="B")
vgg13_bn = _variant("vgg13_bn", f"VGG-13 {_paper} B, with batch norm", cfg="B", batch_norm=True)
vgg16 = _variant("vgg16", f"VGG-16 {_paper} D (the lecture's table)", cfg="D")
vgg16_bn = _variant("vgg16_bn", f"VGG-16 {_paper} D, with batch norm", cfg="D", batch_norm=True)
vgg16_c = _variant("vgg16_c", f"VGG-16 {_paper} C (three 1x1 convs)", cfg="C")
vgg19 = _variant("vgg19", f"VGG-19 {_paper} E", cfg="E")
vgg19_bn = _variant("vgg19_bn", f"VGG-19 {_paper} E, with batch norm", cfg="E", batch_norm=True)
