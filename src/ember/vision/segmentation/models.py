"""Fully convolutional networks for semantic segmentation: down-sample, then up-sample inside the network.

Labelling every pixel with a network that keeps the full resolution throughout is too expensive (the
segmentation lecture); these networks pool down to a coarse, wide representation and come back up, and
show the lecture's two kinds of in-network upsampling:

- ``FCN`` (``fcn_unet``): learned upsampling by transposed convolution (Long et al. 2015, "Fully
  Convolutional Networks for Semantic Segmentation"), with U-Net's skip connections (Ronneberger et al.
  2015): each upsampled map is concatenated with the encoder's map of the same size, so the fine
  positions lost to pooling come back. Four stages of (conv3x3-BN-ReLU) x 2, three 2x2 max-pools, three
  2x2 transposed convolutions of stride 2, a 1x1 classifier.
- ``SegNet`` (``segnet``): max-unpooling (Badrinarayanan et al. 2015): each pooling remembers where its
  maxima were, and the decoder puts values back at those positions ("remember which element was max!"),
  then convolves; no skip concatenation.

Both output (N, num_classes, H, W) scores for (N, in_channels, H, W) inputs whose sides are multiples of 8.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.registry import register_model

WIDTHS = (16, 32, 64, 128)


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """(conv3x3 - batch norm - ReLU) x 2, the side kept (padding 1)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class FCN(nn.Module):
    """U-Net-style FCN: an encoder of ``len(widths)`` stages, a decoder of transposed convolutions whose
    outputs are concatenated with the encoder's maps of the same size."""

    def __init__(self, num_classes: int = 11, in_channels: int = 1, widths: Sequence[int] = WIDTHS) -> None:
        super().__init__()
        sizes = [in_channels, *widths]
        self.encoder = nn.ModuleList(double_conv(a, b) for a, b in itertools.pairwise(sizes))
        self.pool = nn.MaxPool2d(2)
        pairs = list(zip(widths[1:], widths, strict=False))[::-1]  # (deeper, shallower), deepest first
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(deep, shallow, 2, stride=2) for deep, shallow in pairs
        )
        self.decoder = nn.ModuleList(double_conv(2 * shallow, shallow) for _, shallow in pairs)
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for index, stage in enumerate(self.encoder):
            x = stage(x)
            if index < len(self.encoder) - 1:
                skips.append(x)
                x = self.pool(x)
        for upsample, stage, skip in zip(self.upsample, self.decoder, reversed(skips), strict=True):
            x = stage(ops.cat([skip, upsample(x)], dim=1))  # through the namespace: ONNX export traces it
        return self.classifier(x)


class SegNet(nn.Module):
    """SegNet-style encoder-decoder: max-pooling with remembered indices down, max-unpooling up.

    Each decoder stage brings the map to the width of the encoder map whose pooling it undoes, then
    unpools with that pooling's indices (values go back where the maxima were, zeros elsewhere); a last
    (conv-BN-ReLU) x 2 at full resolution fills in around the restored positions before the classifier.
    """

    def __init__(self, num_classes: int = 11, in_channels: int = 1, widths: Sequence[int] = WIDTHS) -> None:
        super().__init__()
        sizes = [in_channels, *widths]
        self.encoder = nn.ModuleList(double_conv(a, b) for a, b in itertools.pairwise(sizes))
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)
        pairs = list(zip(widths[1:], widths, strict=False))[::-1]
        self.decoder = nn.ModuleList(double_conv(deep, shallow) for deep, shallow in pairs)
        self.refine = double_conv(widths[0], widths[0])
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        remembered = []
        for index, stage in enumerate(self.encoder):
            x = stage(x)
            if index < len(self.encoder) - 1:
                x, indices = self.pool(x)
                remembered.append(indices)
        for stage, indices in zip(self.decoder, reversed(remembered), strict=True):
            x = self.unpool(stage(x), indices)
        return self.classifier(self.refine(x))


@register_model(
    "U-Net-style FCN for semantic segmentation: transposed-convolution upsampling with skip "
    "concatenation (Long et al. 2015; Ronneberger et al. 2015)",
    (1, 64, 64),
    min_size=8,
)
def fcn_unet(num_classes: int = 11, in_channels: int = 1, widths: Sequence[int] = WIDTHS) -> FCN:
    return FCN(num_classes, in_channels, widths)


@register_model(
    "SegNet-style segmentation network: max-unpooling with the encoder's pooling indices "
    "(Badrinarayanan et al. 2015)",
    (1, 64, 64),
    min_size=8,
)
def segnet(num_classes: int = 11, in_channels: int = 1, widths: Sequence[int] = WIDTHS) -> SegNet:
    return SegNet(num_classes, in_channels, widths)
