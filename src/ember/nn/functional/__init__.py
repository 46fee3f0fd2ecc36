"""Functional forms of the layers, activations and losses (``import ember.nn.functional as F``)."""

from ember.nn.functional.activation import (
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    maxout,
    prelu,
    relu,
    sigmoid,
    silu,
    softmax,
    tanh,
)
from ember.nn.functional.conv import conv2d, conv_transpose2d, pad
from ember.nn.functional.dropout import dropout, dropout2d
from ember.nn.functional.encoding import one_hot
from ember.nn.functional.loss import cross_entropy, multi_margin_loss, nll_loss, svm_loss
from ember.nn.functional.normalization import batch_norm, local_response_norm
from ember.nn.functional.pointwise_loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
)
from ember.nn.functional.pooling import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    max_pool2d,
    max_unpool2d,
)
from ember.nn.functional.upsampling import interpolate
from ember.ops.linalg import linear
