"""The registry's input sizes: each model runs at the sides its entry declares, and not just below them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ember import models
from ember.errors import EmberError
from ember.models.registry import InputSizeError
from ember.models.summary import summary
from ember.train.tasks import task_of_model

# Detectors want targets in training mode (torchvision's rule): their sizes are checked as they predict.
DETECTORS = {name for name in models.list() if task_of_model(name) in ("detect", "instance")}

# preact_resnet1001 is 3,000 layers of preact_resnet164's blocks (same strides, same range): too slow here.
NAMES = sorted(set(models.list()) - {"preact_resnet1001"})


def runs_at(model, side):
    try:
        summary(model, (1, side, side))
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", NAMES)
def test_each_model_runs_from_its_declared_min_size_and_not_below(name, fast_init):
    entry = models.registry.entry(name)
    model = models.registry.create_for_input(name, (1, entry.min_size, entry.min_size), num_classes=10)
    if name in DETECTORS:
        model.eval()
    assert runs_at(model, entry.min_size)
    if entry.min_size > 1:
        assert not runs_at(model, entry.min_size - 1)
    if entry.max_size is not None:
        assert not runs_at(model, entry.max_size + 4)  # the pools floor: 33-35 still give C5 1x1


def test_the_models_that_need_larger_inputs_say_so():
    sizes = {name: models.registry.entry(name).min_size for name in models.list()}
    assert sizes["vgg16"] == sizes["vgg19_bn"] == 32 and sizes["lenet5"] == 32
    assert sizes["resnet18"] == sizes["resnet20"] == 1 and sizes["alexnet"] == 63
    assert models.registry.entry("lenet5").max_size == 32


def test_smallest_side_is_the_data_size_when_the_model_takes_it():
    entry = models.registry.entry
    assert entry("resnet18").smallest_side(28) == 28
    assert entry("vgg16").smallest_side(28) == 32 and entry("vgg16").smallest_side(64) == 64
    assert entry("lenet5").smallest_side(28) == 32 and entry("lenet5").smallest_side(64) == 32


@pytest.mark.parametrize(
    ("name", "size", "message"),
    [
        ("vgg16", (224, 224), "an input size is C x H x W, three positive sizes such as 3x224x224"),
        ("vgg16", (3, 0, 224), "got 3x0x224"),
        ("lenet5", (1, 28, 28), "lenet5 takes 32x32 inputs, not 1x28x28; use 1x32x32"),
        ("vgg16", (3, 16, 16), "vgg16 takes inputs of at least 32x32, not 3x16x16; use 3x32x32"),
    ],
)
def test_check_input_says_what_the_model_takes(name, size, message):
    with pytest.raises(InputSizeError) as error:
        models.registry.entry(name).check_input(size)
    assert message in str(error.value)
    assert isinstance(error.value, EmberError) and isinstance(error.value, ValueError)


def test_create_for_input_builds_the_mlp_for_the_input_side():
    model = models.registry.create_for_input("mlp", (3, 32, 32), num_classes=5)
    assert model[1].in_features == 3 * 32 * 32 and model[-1].out_features == 5


def test_the_registry_is_full_when_only_its_module_is_imported():
    """Importing ``ember.models.registry`` runs the package first, which registers every family."""
    code = (
        "from ember.models.registry import entry, list_models\n"
        "print(len(list_models()), entry('resnet20').name)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, name = result.stdout.split()
    assert int(count) > 40 and name == "resnet20"
