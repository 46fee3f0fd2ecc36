"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998, "Gradient-based learning applied to document
recognition").

"CNNs before they were cool": the pattern every later network repeats, INPUT -> [CONV -> POOL] x 2 ->
FC -> FC -> FC, on 32x32 digits (MNIST's 28x28 padded by 2, as the paper did):

    C1 conv 5x5, 6 maps -> 28x28     S2 subsample 2x2 -> 14x14
    C3 conv 5x5, 16 maps -> 10x10    S4 subsample 2x2 -> 5x5
    C5 conv 5x5, 120 maps -> 1x1     F6 full 84      output 10

Ember's LeNet-5 is the modern reading of the paper, with 61,706 parameters for 10 classes: tanh
activations, average pooling for the subsampling layers, every C3 map connected to all six S2 maps, and a
linear output layer. The paper's network had about 60,000 (C3's sparse connection table leaves 1,516 of
2,416 weights, S2 and S4 learn a coefficient and a bias per map, the output is a layer of RBF units) and a
scaled tanh, 1.7159 tanh(2a / 3). Weights are initialized as the paper did: U(-2.4 / F, 2.4 / F) with F
the fan-in of the unit.
"""

from __future__ import annotations

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.layers import initialize, zeros
from ember.models.registry import register_model
from ember.nn import init


def lecun_uniform(weight: Tensor) -> Tensor:
    """LeCun et al. 1998: U(-2.4 / fan_in, 2.4 / fan_in)."""
    fan_in, _ = init.fan_in_and_fan_out(weight)
    return init.uniform_(weight, -2.4 / fan_in, 2.4 / fan_in)


class LeNet5(nn.Module):
    """LeNet-5 for 32x32 inputs (``padding=2`` takes 28x28 ones, e.g. MNIST or Fashion-MNIST unpadded)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding),  # C1
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),  # S2
            nn.Conv2d(6, 16, kernel_size=5),  # C3
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),  # S4
            nn.Conv2d(16, 120, kernel_size=5),  # C5
            nn.Tanh(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(120, 84),  # F6
            nn.Tanh(),
            nn.Linear(84, num_classes),
        )
        initialize(self, conv=lecun_uniform, conv_bias=zeros, linear=lecun_uniform, linear_bias=zeros)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(ops.flatten(self.features(x), 1))


@register_model(
    "LeNet-5 (LeCun et al. 1998): conv-pool-conv-pool-conv-fc-fc, tanh, 32x32",
    (1, 32, 32),
    min_size=32,
    max_size=32,
)
def lenet5(num_classes: int = 10, in_channels: int = 1, padding: int = 0) -> LeNet5:
    return LeNet5(num_classes, in_channels, padding)
