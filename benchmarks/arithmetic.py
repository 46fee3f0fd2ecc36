"""The benchmarks' arithmetic: how many floating-point operations a training step's products do, and the
machine's matrix-product rate to hold them against. Shared by ``bench_train_step.py`` (whole networks) and
``bench_layers.py`` (single layers); imports Ember and NumPy, never PyTorch."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import ember
from ember import nn


def training_flops(model: Any, x: np.ndarray, input_grad: bool = False) -> int:
    """Floating-point operations of one forward + backward of ``model``'s convolutions and matrix products
    on ``x`` (2 per multiply-add), counted by forward hooks: each such layer's forward m-n-k, once more for
    its weight gradient, and once more for its input gradient, except the first layer's unless
    ``input_grad`` (a network's input takes no gradient, and neither framework computes it). Batch norm,
    ReLU, pooling and the update are left out: a few operations per value, not what the peak measures."""
    layers: list[int] = []

    def count(module: Any, inputs: tuple[Any, ...], output: Any) -> None:
        if isinstance(module, nn.Linear):
            per_output = module.in_features
        else:
            per_output = module.in_channels // module.groups * int(np.prod(module.kernel_size))
        layers.append(output.numel() * per_output)

    products = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    hooks = [m.register_forward_hook(count) for m in products]
    try:
        with ember.no_grad():
            model(ember.tensor(x))
    finally:
        for hook in hooks:
            hook.remove()
    if not layers:
        return 0
    return 2 * (3 * sum(layers) - (0 if input_grad else layers[0]))


def sgemm_peak(size: int = 4096, repeats: int = 5) -> float:
    """The machine's float32 matrix-product rate now (GFLOP/s): NumPy's (OpenBLAS's) size^3 sgemm on the
    threads its BLAS runs with (the caller sets them), the best of ``repeats`` after one not counted.
    Measured at the start and the end of a run, as the machine's speed drifts (on the 2-vCPU virtual
    machines: by up to 30% within an hour)."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = a.T.copy()
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9
