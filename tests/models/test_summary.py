"""``ember.summary``: the lecture's VGG-16 table, the multiply-add conventions, and ``ember summary``."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import models, nn
from ember.cli import main

# The lecture's VGG-16 table (seeds/002): layer, output [H x W x C], "memory" (values), weights (no biases).
LECTURE_VGG16 = [
    ("CONV3-64", (224, 224, 64), 224 * 224 * 64, 3 * 3 * 3 * 64),
    ("CONV3-64", (224, 224, 64), 224 * 224 * 64, 3 * 3 * 64 * 64),
    ("POOL2", (112, 112, 64), 112 * 112 * 64, 0),
    ("CONV3-128", (112, 112, 128), 112 * 112 * 128, 3 * 3 * 64 * 128),
    ("CONV3-128", (112, 112, 128), 112 * 112 * 128, 3 * 3 * 128 * 128),
    ("POOL2", (56, 56, 128), 56 * 56 * 128, 0),
    ("CONV3-256", (56, 56, 256), 56 * 56 * 256, 3 * 3 * 128 * 256),
    ("CONV3-256", (56, 56, 256), 56 * 56 * 256, 3 * 3 * 256 * 256),
    ("CONV3-256", (56, 56, 256), 56 * 56 * 256, 3 * 3 * 256 * 256),
    ("POOL2", (28, 28, 256), 28 * 28 * 256, 0),
    ("CONV3-512", (28, 28, 512), 28 * 28 * 512, 3 * 3 * 256 * 512),
    ("CONV3-512", (28, 28, 512), 28 * 28 * 512, 3 * 3 * 512 * 512),
    ("CONV3-512", (28, 28, 512), 28 * 28 * 512, 3 * 3 * 512 * 512),
    ("POOL2", (14, 14, 512), 14 * 14 * 512, 0),
    ("CONV3-512", (14, 14, 512), 14 * 14 * 512, 3 * 3 * 512 * 512),
    ("CONV3-512", (14, 14, 512), 14 * 14 * 512, 3 * 3 * 512 * 512),
    ("CONV3-512", (14, 14, 512), 14 * 14 * 512, 3 * 3 * 512 * 512),
    ("POOL2", (7, 7, 512), 7 * 7 * 512, 0),
    ("FC", (1, 1, 4096), 4096, 7 * 7 * 512 * 4096),
    ("FC", (1, 1, 4096), 4096, 4096 * 4096),
    ("FC", (1, 1, 1000), 1000, 4096 * 1000),
]
LECTURE_WEIGHTS = [1_728, 36_864, 0, 73_728, 147_456, 0, 294_912, 589_824, 589_824, 0, 1_179_648]
LECTURE_WEIGHTS += [
    2_359_296,
    2_359_296,
    0,
    2_359_296,
    2_359_296,
    2_359_296,
    0,
    102_760_448,
    16_777_216,
    4_096_000,
]


@pytest.fixture(scope="module")
def vgg16_summary():
    ember.manual_seed(0)
    with pytest.MonkeyPatch.context() as patch:  # the weights do not matter: initialize fast
        from .conftest import _normal, _uniform

        patch.setattr(nn.init, "normal_", _normal)
        patch.setattr(nn.init, "uniform_", _uniform)
        model = models.vgg16()
    return ember.summary(model, (3, 224, 224))


def test_vgg16_reproduces_the_lectures_table(vgg16_summary):
    assert [weights for *_, weights in LECTURE_VGG16] == LECTURE_WEIGHTS  # the table as printed
    rows = [row for row in vgg16_summary.layers if row.kind in ("Conv2d", "MaxPool2d", "Linear")]
    assert len(rows) == len(LECTURE_VGG16)
    for row, (layer, (h, w, c), memory, weights) in zip(rows, LECTURE_VGG16, strict=True):
        assert row.kind == {"CONV": "Conv2d", "POOL2": "MaxPool2d", "FC": "Linear"}[layer.split("3-")[0]]
        assert row.output_shape[1:] == ((c, h, w) if row.kind != "Linear" else (c,)), layer
        assert row.activations == memory, layer
        assert row.parameters.get("weight", 0) == weights, layer
        assert row.activation_bytes == 4 * memory


def test_vgg16_totals_and_the_lectures_memory_figure(vgg16_summary):
    s = vgg16_summary
    assert s.total_parameters == 138_357_544  # "TOTAL params: 138M parameters"
    assert s.input_values == 224 * 224 * 3  # "INPUT: [224x224x3] memory: 224*224*3=150K"
    lecture_sum = 150_528 + sum(memory for _, _, memory, _ in LECTURE_VGG16)
    assert lecture_sum == 15_237_608  # the lecture's own rows add up to 15.2M values, not its "24M"
    # Ember's VGG-16 also has torchvision's adaptive average pool (7x7 -> 7x7, a copy of 25,088 values);
    # the ReLUs and dropouts are in place and add nothing.
    assert s.forward_values == lecture_sum + 7 * 7 * 512
    assert s.forward_bytes == 4 * s.forward_values  # 61,050,784 bytes, about 61 MB (not 93 MB)
    assert s.forward_backward_bytes == 2 * s.forward_bytes
    assert s.conv_linear_multiply_adds == 15_470_264_320  # torchvision's "15.47 GFLOPS" for VGG-16
    text = str(s)
    assert "Total params: 138,357,544" in text and "15,262,696 values" in text


def test_multiply_add_and_memory_conventions():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, groups=1),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, 5),
    )
    s = ember.summary(model, (3, 8, 8))
    by_kind = {row.kind: row for row in s.layers}
    assert s.layers[0].multiply_adds == 8 * 8 * 8 * (3 * 3 * 3)  # output values x (C_in / groups) k^2
    assert s.layers[4].multiply_adds == 8 * 4 * 4 * (2 * 3 * 3)  # grouped: 8 / 4 input channels per group
    assert by_kind["BatchNorm2d"].multiply_adds == 8 * 8 * 8
    assert by_kind["MaxPool2d"].multiply_adds == 0
    assert by_kind["AvgPool2d"].multiply_adds == 8 * 2 * 2 * 4
    assert by_kind["Linear"].multiply_adds == 5 * 32
    assert by_kind["ReLU"].in_place and by_kind["ReLU"].activations == 0
    assert by_kind["Flatten"].in_place  # a view
    assert s.activations == 512 + 512 + 128 + 128 + 32 + 5
    assert s.total_parameters == (3 * 9 * 8 + 8) + 16 + (2 * 9 * 8) + (32 * 5 + 5)


def test_summary_restores_the_mode_and_counts_uncalled_modules(fast_init):
    model = models.googlenet(num_classes=10)
    model.train()
    s = ember.summary(model, (3, 32, 32))
    assert model.training
    aux = sum(p.numel() for p in model.aux1.parameters()) + sum(p.numel() for p in model.aux2.parameters())
    assert s.uncalled_parameters == aux  # eval mode: the auxiliary classifiers do not run
    assert "did not call" in str(s)


def test_mobilenet_has_the_papers_569M_multiply_adds(fast_init):
    s = ember.summary(models.mobilenet_v1(), (3, 224, 224))
    assert round(s.conv_linear_multiply_adds / 1e6) == 569  # "569 million Mult-Adds", Table 8
    assert s.total_parameters == 4_231_976


def test_cli_prints_the_table(capsys):
    assert main(["summary", "resnet20", "--input", "3x32x32", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "resnet20, input 3x32x32" in out and "Total params: 269,722" in out
    assert "layer3.2.conv2 (Conv2d)" in out


def test_cli_lists_models_and_rejects_unknown_ones(capsys):
    assert main(["summary", "--list"]) == 0
    assert "vgg16" in capsys.readouterr().out
    assert main(["summary", "vgg61"]) == 2
    assert "ember summary: unknown model 'vgg61'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["summary", "vgg16", "--input", "3by224"])


def test_summary_of_a_model_with_batch_size_reports_per_image_numbers():
    one = ember.summary(models.resnet20(), (3, 16, 16))
    four = ember.summary(models.resnet20(), (3, 16, 16), batch_size=4)
    assert four.forward_bytes == one.forward_bytes and four.multiply_adds == one.multiply_adds
    assert np.all(
        [a.output_shape[1:] == b.output_shape[1:] for a, b in zip(one.layers, four.layers, strict=True)]
    )
