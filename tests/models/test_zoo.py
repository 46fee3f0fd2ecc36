"""The models torchvision does not have: parameter counts against their papers, a forward and backward
pass of each, the registry, and initialization."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import models, nn

from .oracle import num_parameters
from .test_parity import SHARED

# name: (Ember's exact count, the paper's figure in millions, how far from it the rounding allows), for
# 10 classes (CIFAR nets, LeNet-5) or 1000 (ImageNet nets), as in the papers. None: no figure in the paper.
PAPER = {
    "lenet5": (61_706, 0.060, 0.002),  # "60,000": C3's sparse connections and the RBF output differ
    "alexnet_original": (60_965_224, 60, 1),  # "60 million parameters"
    "zfnet": (62_357_608, None, 0),
    "vgg11_lrn": (132_863_336, 133, 0.5),
    "vgg16_c": (133_638_952, 134, 0.5),
    "inception_factorized": (333_514, None, 0),
    "resnet20": (269_722, 0.27, 0.005),
    "resnet32": (464_154, 0.46, 0.005),
    "resnet44": (658_586, 0.66, 0.005),
    "resnet56": (853_018, 0.85, 0.005),
    "resnet110": (1_727_962, 1.7, 0.05),
    "preact_resnet20": (272_282, None, 0),
    "preact_resnet110": (1_730_522, 1.7, 0.05),
    "preact_resnet164": (1_703_258, 1.7, 0.05),
    "preact_resnet1001": (10_327_706, 10.2, 0.15),  # 10.3M here: see docs/models.md
    "wrn16_4": (2_748_890, 2.7, 0.05),
    "wrn16_8": (10_961_370, 11.0, 0.05),
    "wrn28_10": (36_479_194, 36.5, 0.05),
    "wrn40_4": (8_949_210, 8.9, 0.05),
    "resnext29_8x64d": (34_426_698, 34.4, 0.05),
    "resnext29_16x64d": (68_155_210, 68.1, 0.1),
    "se_resnet18": (11_778_592, None, 0),
    "se_resnet34": (21_958_868, None, 0),
    "se_resnet50": (28_088_024, 28.1, 0.05),
    "se_resnet101": (49_326_872, 49.3, 0.05),
    "se_resnet152": (66_821_848, 66.8, 0.05),
    "se_resnet20": (272_095, None, 0),
    "se_resnet56": (860_137, None, 0),
    "mobilenet_v1": (4_231_976, 4.2, 0.05),
    "mlp": (535_818, None, 0),  # 784-512-256-10
    "small_cnn": (421_738, None, 0),  # ember train's default
}
# Input size for one forward and backward pass: small, but every layer must still get a non-empty map.
SMALL_INPUT = {
    "lenet5": (1, 32, 32),
    "alexnet_original": (3, 99, 99),
    "zfnet": (3, 64, 64),
    "mlp": (1, 28, 28),
    "small_cnn": (1, 28, 28),
}
CIFAR_INPUT, IMAGENET_INPUT = (3, 8, 8), (3, 32, 32)


def classifiers() -> dict[str, str]:
    """The registered classifiers: the zoo less the networks ``ember.vision`` adds once it is imported
    (segmentation and localization, checked in tests/vision)."""
    listed = models.list()
    return {
        name: description
        for name, description in listed.items()
        if not models.registry.entry(name).constructor.__module__.startswith("ember.vision.")
    }


def test_every_registered_model_is_checked_here_or_against_torchvision():
    assert set(classifiers()) == set(PAPER) | set(SHARED)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_parameter_count_matches_the_paper(name, skip_init):
    exact, paper, tolerance = PAPER[name]
    count = num_parameters(models.create(name))
    assert count == exact
    if paper is not None:  # the paper's rounded figure, e.g. "0.27M"
        assert abs(count / 1e6 - paper) <= tolerance


# preact_resnet1001 is preact_resnet164's blocks 333 times over (3,000 layers, each a few Python calls):
# its pass takes longer than all the others together, so only its parameters are counted.
@pytest.mark.parametrize("name", sorted(set(PAPER) - {"preact_resnet1001"}))
def test_forward_and_backward_at_a_small_input(name, fast_init):
    entry = models.registry.entry(name)
    default = CIFAR_INPUT if entry.input_size == (3, 32, 32) else IMAGENET_INPUT
    channels, height, width = SMALL_INPUT.get(name, default)
    model = models.create(name, num_classes=7, in_channels=channels)
    x = ember.tensor(
        np.random.default_rng(0).standard_normal((2, channels, height, width)).astype(np.float32)
    )
    output = model(x)
    assert output.shape == (2, 7)
    loss = nn.functional.cross_entropy(output, ember.tensor(np.array([1, 5])))
    loss.backward()
    assert np.isfinite(loss.item())
    assert all(p.grad is not None and np.isfinite(p.grad.array).all() for p in model.parameters())


def test_create_takes_num_classes_in_channels_and_options():
    model = models.create("resnet20", num_classes=10, in_channels=1, shortcut="B")
    assert model.conv1.weight.shape == (16, 1, 3, 3) and model.fc.out_features == 10
    assert isinstance(model.layer2[0].downsample, nn.Sequential)  # option B: conv 1x1 + BN projection
    assert models.create("lenet5").classifier[-1].out_features == 10  # the model's own defaults


def test_unknown_names_are_reported_with_the_closest_ones():
    with pytest.raises(KeyError, match="resnet20"):
        models.create("resnet2O")


def test_list_describes_every_model_in_one_line():
    listed = classifiers()
    assert "resnet20" in listed and "vgg16" in listed and len(listed) == len(PAPER) + len(SHARED)
    assert all(description and "\n" not in description for description in listed.values())


def test_option_a_shortcut_pads_zeros_and_subsamples():
    shortcut = models.resnet.ZeroPadShortcut(2, 4, stride=2)
    x = ember.tensor(np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4))
    out = shortcut(x).numpy()
    assert out.shape == (1, 4, 2, 2)
    np.testing.assert_array_equal(out[:, :2], x.numpy()[:, :, ::2, ::2])
    assert not out[:, 2:].any()


def test_he_initialization_has_the_papers_scale():
    ember.manual_seed(0)
    model = models.resnet56()
    weight = model.layer3[0].conv2.weight.detach().numpy()  # 64 filters of 64x3x3: fan_out = 576
    assert weight.std() == pytest.approx(np.sqrt(2 / 576), rel=0.05)
    assert weight.mean() == pytest.approx(0, abs=0.005)


def test_vgg_initialization_follows_torchvision():
    ember.manual_seed(0)
    model = models.VGG(models.make_layers([32, "M", 64, "M"]), num_classes=10, hidden=256, pool_size=2)
    conv = model.features[3].weight.detach().numpy()  # 64 x 32 x 3 x 3, fan_out = 576
    assert conv.std() == pytest.approx(np.sqrt(2 / 576), rel=0.05)
    assert model.classifier[0].weight.detach().numpy().std() == pytest.approx(0.01, rel=0.05)
    assert (
        not model.classifier[0].bias.detach().numpy().any()
        and not model.features[0].bias.detach().numpy().any()
    )


def test_alexnet_original_initialization_is_the_papers():
    ember.manual_seed(0)
    model = models.alexnet_original(num_classes=10)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert [float(c.bias.detach().numpy().mean()) for c in convs] == [0.0, 1.0, 0.0, 1.0, 1.0]
    assert convs[2].weight.detach().numpy().std() == pytest.approx(0.01, rel=0.05)
    assert num_parameters(models.alexnet_original(grouped=False)) == 62_378_344


def test_lenet5_uses_lecuns_uniform_initialization():
    ember.manual_seed(0)
    weight = models.lenet5().features[3].weight.detach().numpy()  # C3: fan_in = 6 * 5 * 5 = 150
    assert np.abs(weight).max() <= 2.4 / 150 and np.abs(weight).max() > 0.9 * 2.4 / 150


def test_factorized_inception_blocks_use_1xn_and_nx1_convs():
    block = models.InceptionFactorizedB(8, 4, n=7)
    kernels = [m.kernel_size for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert (1, 7) in kernels and (7, 1) in kernels and (7, 7) not in kernels
    double = models.InceptionFactorizedA(8, 4).branch_double
    assert [m.conv.kernel_size for m in double] == [(1, 1), (3, 3), (3, 3)]  # the 5x5 as two 3x3
    out = block(ember.tensor(np.zeros((1, 8, 9, 9), dtype=np.float32)))
    assert out.shape == (1, 16, 9, 9)


def test_squeeze_excitation_scales_each_channel_by_a_gate_in_0_1():
    se = models.SqueezeExcitation(32, reduction=16)
    x = ember.tensor(np.abs(np.random.default_rng(0).standard_normal((2, 32, 4, 4))).astype(np.float32))
    with ember.no_grad():
        ratio = se(x).numpy() / x.numpy()
    assert np.allclose(ratio, ratio[:, :, :1, :1]) and ((ratio > 0) & (ratio < 1)).all()


def test_ember_never_imports_torch():
    code = (
        "import sys, ember, ember.models, ember.models.convert, ember.cli; "
        "ember.summary(ember.models.resnet20(), (3, 8, 8)); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
