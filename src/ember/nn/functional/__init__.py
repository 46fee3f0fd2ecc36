"""Functional forms of the layers, activations and losses (``import ember.nn.functional as F``)."""

from ember.ops.linalg import linear
