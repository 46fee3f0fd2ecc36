"""Inception v3 style blocks with factorized convolutions (Szegedy et al. 2016, "Rethinking the Inception
architecture for computer vision").

Factorize big filters into small ones: a 5x5 conv over c channels needs 25 c weights per filter, two
stacked 3x3 convs see the same 5x5 window with 18 c (28% fewer) and put a non-linearity in between
(the paper's Figure 5). Going further, an n x n conv is a 1 x n conv followed by an n x 1 one: 2n instead
of n^2 weights per channel, 33% fewer for n = 3 and 71% fewer for n = 7 (Figure 6). Every conv is followed
by batch norm (Inception v2/v3 "use batch normalization!") and ReLU.

- ``InceptionFactorizedA`` (Figure 5): 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 (the factorized 5x5) |
  3x3 average pool -> 1x1, concatenated.
- ``InceptionFactorizedB`` (Figure 6): 1x1 | 1x1 -> 1xn -> nx1 | 1x1 -> 1xn -> nx1 -> 1xn -> nx1
  (a factorized double n x n) | 3x3 average pool -> 1x1.
- ``InceptionNet``: a small network for 32x32 images built from them (registered as
  ``inception_factorized``): a 3x3 stem, two A blocks, a max pool, two B blocks (n = 3 at 16x16), a global
  average pool and one linear layer. The full Inception v3 (299x299 inputs, auxiliary head, grid
  reductions) is not part of the zoo.
"""

from __future__ import annotations

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.layers import ConvBNReLU, he_normal_fan_out, initialize, pool_and_classify
from ember.models.registry import register_model


def factorized(in_channels: int, out_channels: int, n: int) -> list[nn.Module]:
    """An n x n conv as 1 x n then n x 1 (same receptive field, 2n instead of n^2 weights per channel)."""
    return [
        ConvBNReLU(in_channels, out_channels, (1, n), padding=(0, n // 2)),
        ConvBNReLU(out_channels, out_channels, (n, 1), padding=(n // 2, 0)),
    ]


class _InceptionBranches(nn.Module):
    """Branches run side by side on the same input, concatenated along the channels."""

    branch1x1: nn.Module
    branch_single: nn.Module
    branch_double: nn.Module
    branch_pool: nn.Module

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.branch1x1, self.branch_single, self.branch_double, self.branch_pool)
        return ops.cat([branch(x) for branch in branches], 1)


def pool_branch(in_channels: int, pool_features: int) -> nn.Sequential:
    return nn.Sequential(
        nn.AvgPool2d(kernel_size=3, stride=1, padding=1), ConvBNReLU(in_channels, pool_features, 1)
    )


class InceptionFactorizedA(_InceptionBranches):
    """Figure 5: the 5x5 branch as two 3x3 convs. Output channels: 4 * ``width``."""

    def __init__(self, in_channels: int, width: int, reduce: int | None = None) -> None:
        super().__init__()
        reduce = reduce or width
        self.branch1x1 = ConvBNReLU(in_channels, width, 1)
        self.branch_single = nn.Sequential(
            ConvBNReLU(in_channels, reduce, 1), ConvBNReLU(reduce, width, 3, padding=1)
        )
        self.branch_double = nn.Sequential(
            ConvBNReLU(in_channels, reduce, 1),
            ConvBNReLU(reduce, width, 3, padding=1),
            ConvBNReLU(width, width, 3, padding=1),
        )
        self.branch_pool = pool_branch(in_channels, width)


class InceptionFactorizedB(_InceptionBranches):
    """Figure 6: n x n convs as 1 x n then n x 1. Output channels: 4 * ``width``."""

    def __init__(self, in_channels: int, width: int, n: int = 7, reduce: int | None = None) -> None:
        super().__init__()
        reduce = reduce or width
        self.branch1x1 = ConvBNReLU(in_channels, width, 1)
        self.branch_single = nn.Sequential(ConvBNReLU(in_channels, reduce, 1), *factorized(reduce, width, n))
        self.branch_double = nn.Sequential(
            ConvBNReLU(in_channels, reduce, 1), *factorized(reduce, width, n), *factorized(width, width, n)
        )
        self.branch_pool = pool_branch(in_channels, width)


class InceptionNet(nn.Module):
    """stem 3x3 -> A, A -> max pool -> B, B -> global average pool -> linear; for 32x32 images."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32, n: int = 3) -> None:
        super().__init__()
        self.stem = ConvBNReLU(in_channels, 2 * width, 3, padding=1)
        self.blocks = nn.Sequential(
            InceptionFactorizedA(2 * width, width),
            InceptionFactorizedA(4 * width, width),
            nn.MaxPool2d(kernel_size=2, stride=2),
            InceptionFactorizedB(4 * width, 2 * width, n),
            InceptionFactorizedB(8 * width, 2 * width, n),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, num_classes)
        initialize(self, conv=he_normal_fan_out)

    def forward(self, x: Tensor) -> Tensor:
        return pool_and_classify(self.avgpool, self.fc, self.blocks(self.stem(x)))


@register_model(
    "Small CIFAR net of Inception-v3 blocks: 5x5 as two 3x3, n x n as 1xn + nx1 (Szegedy et al. 2016)",
    (3, 32, 32),
    min_size=2,
)
def inception_factorized(
    num_classes: int = 10, in_channels: int = 3, width: int = 32, n: int = 3
) -> InceptionNet:
    return InceptionNet(num_classes, in_channels, width, n)
