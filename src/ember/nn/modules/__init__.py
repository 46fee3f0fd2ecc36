"""Layers, activations and losses as modules (``ember.nn.Linear``, ``ember.nn.CrossEntropyLoss``, ...)."""

from ember.nn.modules.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    Maxout,
    PReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from ember.nn.modules.conv import Conv2d, ConvTranspose2d
from ember.nn.modules.dropout import Dropout, Dropout2d
from ember.nn.modules.flatten import Flatten, Unflatten
from ember.nn.modules.linear import Identity, Linear
from ember.nn.modules.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    MultiMarginLoss,
    NLLLoss,
    SmoothL1Loss,
    SVMLoss,
)
from ember.nn.modules.normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from ember.nn.modules.pooling import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    MaxPool2d,
    MaxUnpool2d,
)
from ember.nn.modules.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
