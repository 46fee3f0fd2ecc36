"""ZFNet (Zeiler and Fergus 2014, "Visualizing and understanding convolutional networks").

AlexNet, tuned by looking at it: deconvolution visualizations of the first layers showed AlexNet's 11x11
stride-4 filters mixing very high and low frequencies and aliasing, so ZFNet uses 7x7 filters with stride 2
in conv1 and stride 2 in conv2, keeping more information in the early maps (ILSVRC 2013 winner, 11.7%
top-5 error against AlexNet's 16.4%).

    224x224 -> conv1 7x7/2, 96 -> 110 -> pool 3/2 -> 55 -> norm -> conv2 5x5/2, 256 -> 26 -> pool -> 13
    -> norm -> conv3 3x3, 384 -> conv4 3x3, 384 -> conv5 3x3, 256 -> pool -> 6x6x256 -> FC 4096 -> FC 4096

The paper's maps are 55 and 13 after the pools, which PyTorch's arithmetic gives with ``ceil_mode=True``;
its "contrast normalization across feature maps" is a local response normalization (AlexNet's settings,
as the paper gives none). Weights are initialized to N(0, 0.01) and biases to 0, as the paper did; it also
renormalized any conv filter whose RMS grew above 0.1, a training rule not part of the model. The paper
gives no parameter count: this network has 62,357,608 for 1000 classes.
"""

from __future__ import annotations

from ember import nn
from ember.models.alexnet import AlexNet, alexnet_classifier, lrn
from ember.models.layers import gaussian_001, initialize
from ember.models.registry import register_model


@register_model("ZFNet (Zeiler & Fergus 2014): AlexNet with 7x7/2 conv1 and stride-2 conv2", min_size=47)
def zfnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> AlexNet:
    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=7, stride=2, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        lrn(),
        nn.Conv2d(96, 256, kernel_size=5, stride=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        lrn(),
        nn.Conv2d(256, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
    )
    model = AlexNet(features, alexnet_classifier(num_classes, dropout))
    initialize(model, conv=gaussian_001, linear=gaussian_001)
    return model
