"""AlexNet (Krizhevsky, Sutskever and Hinton 2012, "ImageNet classification with deep convolutional neural
networks"): "the CNN that made them cool".

Five conv layers and three fully connected ones, 60M parameters, trained on two GPUs. What changed from
LeNet was scale (ImageNet, GPUs, a bigger and deeper network trained longer) and ReLU, which does not
saturate and so does not kill gradients in a deep net; dropout in the FC layers fought overfitting.

Two variants:

- ``alexnet_original``: the paper's network, its two GPU halves merged: 96-256-384-384-256 filters. Conv2,
  conv4 and conv5 only saw the maps on their own GPU, which is a grouped convolution with ``groups=2``
  (60,965,224 parameters; ``grouped=False`` connects everything, 62,378,344). Local response
  normalization follows the ReLUs of conv1 and conv2, with the paper's k = 2, n = 5, alpha = 1e-4,
  beta = 0.75: PyTorch's (and Ember's) ``LocalResponseNorm`` divides alpha by n, so it is given
  n * alpha = 5e-4. Weights ~ N(0, 0.01); biases 1 in conv2, conv4, conv5 and the hidden FC layers
  ("accelerates the early stages of learning by providing the ReLUs with positive inputs"), 0 elsewhere.
  The paper says 224x224 inputs, but an 11x11 stride-4 unpadded conv needs 227 to give its 55x55 maps.
- ``alexnet``: torchvision's single-GPU variant (Krizhevsky 2014, "One weird trick"): 64-192-384-256-256
  filters, no LRN, PyTorch's default initialization; the same state-dict keys as torchvision's.

Both end their features with an adaptive average pool to 6x6 (the identity for 224/227 inputs), as
torchvision does, so that smaller images also run.
"""

from __future__ import annotations

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.layers import gaussian_001, initialize, ones
from ember.models.registry import register_model


def alexnet_classifier(num_classes: int, dropout: float, hidden: int = 4096) -> nn.Sequential:
    """Dropout -> FC 9216 -> 4096 -> ReLU -> Dropout -> FC 4096 -> 4096 -> ReLU -> FC -> classes."""
    return nn.Sequential(
        nn.Dropout(p=dropout),
        nn.Linear(256 * 6 * 6, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )


class AlexNet(nn.Module):
    """``features`` -> 6x6 ``avgpool`` -> flatten -> ``classifier``, with torchvision's attribute names."""

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(ops.flatten(self.avgpool(self.features(x)), 1))


@register_model("AlexNet, torchvision's single-GPU variant 64-192-384-256-256 (Krizhevsky 2014)", min_size=63)
def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> AlexNet:
    features = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    return AlexNet(features, alexnet_classifier(num_classes, dropout))


def lrn() -> nn.LocalResponseNorm:
    """The paper's k = 2, n = 5, alpha = 1e-4, beta = 0.75 (alpha given as n * alpha, see above)."""
    return nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)


@register_model(
    "AlexNet as in the paper: 96-256-384-384-256, LRN, 2-GPU grouping (Krizhevsky 2012)",
    (3, 227, 227),
    min_size=67,
)
def alexnet_original(
    num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, grouped: bool = True
) -> AlexNet:
    groups = 2 if grouped else 1
    conv2 = nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=groups)
    conv4 = nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=groups)
    conv5 = nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=groups)
    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4),
        nn.ReLU(inplace=True),
        lrn(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        conv2,
        nn.ReLU(inplace=True),
        lrn(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        conv4,
        nn.ReLU(inplace=True),
        conv5,
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    model = AlexNet(features, alexnet_classifier(num_classes, dropout))
    initialize(model, conv=gaussian_001, linear=gaussian_001)
    classifier = model.classifier
    for layer in (conv2, conv4, conv5, classifier[1], classifier[4]):
        ones(layer.bias)
    return model
