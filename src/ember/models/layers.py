"""Pieces shared by the architectures: conv-BN-ReLU, the classifier head, and weight initialization.

Every family builds from the same few parts so that a fix lands once:

- ``ConvBNReLU``: convolution (no bias: batch norm's shift replaces it), batch norm, ReLU. Its children are
  named ``conv`` and ``bn`` as torchvision's ``BasicConv2d`` (GoogLeNet, Inception), so weights
  interchange; the ReLU has no parameters and so no state-dict keys.
- ``pool_and_classify``: global average pooling, flatten, one linear layer: the head of the networks
  that dropped VGG's big fully connected layers (GoogLeNet's "no FC layers", ResNet, DenseNet).
- ``initialize``: one pass over the modules applying each family's initialization to conv and linear
  weights and biases. He et al. (2015) for ReLU networks (``he_normal``, std = sqrt(2 / fan)), N(0, 0.01)
  as AlexNet, ZFNet and VGG's classifiers, Xavier where a paper used it; batch norm starts at gamma = 1,
  beta = 0 (its default).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from ember import nn, ops
from ember.autograd import Tensor
from ember.nn import init

Initializer = Callable[[Tensor], Any]

# He et al. 2015 for ReLU layers. fan_out keeps the gradients' variance in the backward pass (torchvision's
# ResNet and VGG choice); fan_in keeps the activations' variance in the forward pass (DenseNet's).
he_normal_fan_out: Initializer = partial(init.kaiming_normal_, mode="fan_out", nonlinearity="relu")
he_normal_fan_in: Initializer = partial(init.kaiming_normal_, mode="fan_in", nonlinearity="relu")
zeros: Initializer = init.zeros_
ones: Initializer = init.ones_


def gaussian_001(tensor: Tensor) -> Tensor:
    """N(0, 0.01^2): AlexNet's, ZFNet's and VGG's classifier weights."""
    return init.normal_(tensor, 0.0, 0.01)


def initialize(
    model: nn.Module,
    conv: Initializer | None = None,
    conv_bias: Initializer | None = zeros,
    linear: Initializer | None = None,
    linear_bias: Initializer | None = zeros,
) -> nn.Module:
    """Initialize every Conv2d and Linear of ``model``; ``None`` keeps PyTorch's default for that tensor."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            weight_init, bias_init = conv, conv_bias
        elif isinstance(module, nn.Linear):
            weight_init, bias_init = linear, linear_bias
        else:
            continue
        if weight_init is not None:
            weight_init(module.weight)
        if bias_init is not None and module.bias is not None:
            bias_init(module.bias)
    return model


class ConvBNReLU(nn.Module):
    """conv (no bias) -> batch norm -> ReLU; ``relu=False`` leaves the ReLU out (a linear bottleneck)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        groups: int = 1,
        eps: float = 1e-5,
        relu: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=eps)
        self.relu = nn.ReLU(inplace=True) if relu else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return self.relu(x) if self.relu is not None else x


def pool_and_classify(avgpool: nn.Module, fc: nn.Module, x: Tensor) -> Tensor:
    """The head as torchvision writes it inline (``avgpool`` and ``fc`` attributes of the model itself)."""
    return fc(ops.flatten(avgpool(x), 1))


def sequential(*modules: nn.Module | None) -> nn.Sequential:
    """A Sequential of the given modules, skipping ``None`` (optional layers such as LRN or batch norm)."""
    return nn.Sequential(*[module for module in modules if module is not None])
