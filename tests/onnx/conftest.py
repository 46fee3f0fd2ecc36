"""Fixtures of the ONNX tests: the models tests' fast initialization, and realistic batch-norm statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ember
from ember import nn

from ..models.conftest import fast_init  # noqa: F401  (a fixture, used by name)

pytest.importorskip("onnx", reason="the ONNX tests need the onnx extra: pip install 'ember[onnx]'")
pytest.importorskip("onnxruntime", reason="the ONNX tests need onnxruntime: pip install 'ember[onnx]'")


def calibrate(model: nn.Module, x: np.ndarray, seed: int = 0) -> nn.Module:
    """Batch norm set as in a trained network, then eval mode: activations of a realistic scale.

    The defaults (mean 0, variance 1, gamma 1, beta 0) let a deep random network's activations vanish
    (GoogLeNet's logits are then its bias alone) or overflow (a 1001-layer ResNet). One training-mode pass
    over ``x`` measures each channel's mean and variance; the variance kept is the layer's mean variance
    times a random factor in [0.5, 2], not the channel's own: at the small inputs of these tests a
    channel's few values can be nearly equal, and dividing by their tiny variance makes the network so
    ill-conditioned that float32 itself (Ember's or anyone's) is off by 1e-4 of the output. Gamma and beta
    are drawn too, so that every per-channel parameter is exercised.
    """
    layers = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]
    for layer in layers:
        layer.momentum = None  # a cumulative average: after one batch, that batch's statistics
        layer.reset_running_stats()
    model.train()
    with ember.no_grad():
        model(ember.from_numpy(x))
    random = np.random.default_rng(seed)
    for layer in layers:
        channels = layer.num_features
        variance = float(layer.running_var.array.mean()) * random.uniform(0.5, 2.0, channels)
        layer.running_var.array[...] = variance
        if layer.weight is not None:
            layer.weight.array[...] = random.uniform(0.5, 1.5, channels)
            layer.bias.array[...] = random.normal(0.0, 0.1, channels)
    return model.eval()


def batch(shape: tuple[int, ...], size: int, seed: int = 0) -> Any:
    return np.random.default_rng(seed).standard_normal((size, *shape)).astype(np.float32)
