"""Small networks for small images: the multi-layer perceptron and the compact CNN of ``ember train``.

- ``mlp``: the lectures' fully connected network, image -> flatten -> [Linear -> ReLU] x k -> Linear
  (default 784-512-256-10, the benchmark's MLP). ``image_size`` is the side of the (square) input.
- ``small_cnn``: two conv-BN-ReLU-pool stages (32 and 64 channels of 3x3 filters; each pool halves the
  side), then dropout, a fully connected layer of 128 ReLUs, dropout and the classifier: the [CONV -> RELU
  -> POOL] x 2 -> FC pattern of LeNet-5 with batch norm and dropout, sized to train on 28x28 images in a
  few minutes on a CPU (about 4 million multiply-adds per image) and to pass 90% on Fashion-MNIST. An
  adaptive average pool fixes the classifier's input at 64 x 7 x 7, so 32x32 images work too.
"""

from __future__ import annotations

from collections.abc import Sequence

from ember import nn
from ember.autograd import Tensor
from ember.models.registry import register_model


@register_model("Multi-layer perceptron 784-512-256-10 with ReLU (image flattened)", (1, 28, 28))
def mlp(
    num_classes: int = 10, in_channels: int = 1, hidden: Sequence[int] = (512, 256), image_size: int = 28
) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_channels * image_size * image_size
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """conv3x3 32, BN, ReLU, pool; conv3x3 64, BN, ReLU, pool; dropout, fc 128, ReLU, dropout, fc."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        width: int = 32,
        hidden: int = 128,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(7),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * width * 7 * 7, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


@register_model(
    "Small CNN: conv3x3 32-pool-64-pool, fc 128, batch norm and dropout (ember train's default)",
    (1, 28, 28),
    min_size=4,
)
def small_cnn(num_classes: int = 10, in_channels: int = 1, **options: float) -> SmallCNN:
    return SmallCNN(num_classes, in_channels, **options)  # type: ignore[arg-type]
