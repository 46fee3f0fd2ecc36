"""The benchmarks' arithmetic (``benchmarks/arithmetic.py``, ``training_flops``, which
``bench_train_step.py``'s ``step_flops`` and ``bench_layers.py`` use): the operations they hold a step's time
against, checked by hand for the small networks and a single layer, and against the published count for
ResNet-20 (He et al. 2016: about 41 M multiply-adds per 32x32 image, forward)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = pytest.importorskip("bench_train_step")


def test_mlp_counts_three_products_per_layer_but_the_first_input_gradient() -> None:
    forward = [128 * 784 * 512, 128 * 512 * 256, 128 * 256 * 10]
    expected = 2 * (3 * sum(forward) - forward[0])
    assert bench.step_flops("mlp", 128) == expected


def test_lenet5_counts_each_convolution_at_its_output_size() -> None:
    batch = 4
    c1 = batch * 6 * 28 * 28 * (1 * 5 * 5)  # 'same' padding keeps 28x28
    c3 = batch * 16 * 10 * 10 * (6 * 5 * 5)  # 'valid' on 14x14
    fc = batch * (400 * 120 + 120 * 84 + 84 * 10)
    assert bench.step_flops("lenet5", batch) == 2 * (3 * (c1 + c3 + fc) - c1)


def test_resnet20_forward_is_about_41_million_multiply_adds_per_image() -> None:
    per_image = bench.step_flops("resnet20", 1)
    stem = 16 * 32 * 32 * 3 * 9
    forward = (per_image // 2 + stem) / 3  # 2 flops a multiply-add, 3 products, no stem input gradient
    assert 40.0e6 < forward < 41.5e6


def test_a_single_layer_counts_its_input_gradient_when_it_takes_one() -> None:
    """``bench_layers.py`` holds one convolution's forward + backward against the peak: its input takes a
    gradient there, so all three products count."""
    import numpy as np

    import ember.nn as nn
    from arithmetic import training_flops

    x = np.zeros((2, 16, 8, 8), np.float32)
    forward = 2 * 16 * 8 * 8 * (16 * 3 * 3)
    conv = nn.Conv2d(16, 16, 3, padding=1, bias=False)
    assert training_flops(conv, x, input_grad=True) == 2 * 3 * forward
    assert training_flops(conv, x) == 2 * 2 * forward
    assert training_flops(nn.BatchNorm2d(16), x, input_grad=True) == 0  # no products: nothing to hold
