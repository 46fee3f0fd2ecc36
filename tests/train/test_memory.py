"""The training memory estimate: its parts, the batch that fits, and when a run is refused or warned about."""

from __future__ import annotations

import warnings

import pytest

from ember.models import registry
from ember.models.summary import summary
from ember.train import memory, recipes
from ember.train.config import resolve_config
from ember.train.datasets import DATASETS

from ..models.conftest import fast_init  # noqa: F401  (a fixture: VGG's 138M weights drawn quickly)

GB = 10**9


def estimate(model: str, dataset: str = "mnist", **fields) -> memory.MemoryEstimate:
    config = resolve_config({"model": model, "dataset": dataset, **fields})
    info = DATASETS[dataset]
    size = recipes.model_input_size(config, info)
    table = summary(recipes.build_model(config, info.num_classes, size[0], size[1]), size)
    return memory.estimate_training(config, table, info, recipes.eval_images(size))


def test_the_parts_follow_the_formula():
    config = resolve_config({"model": "mlp", "dataset": "mnist", "batch_size": 64, "workers": 0})
    table = summary(registry.create_for_input("mlp", (1, 28, 28), 10), (1, 28, 28))
    got = memory.estimate_training(config, table, DATASETS["mnist"], 500)
    weights = 4 * (784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10)
    assert got.parameters == weights * 3 + 3 * 4 * 784 * 512  # weights, gradients, momentum; temporaries
    assert got.checkpoint == 2 * weights * 2
    assert got.data == 70_000 * 784 and got.baseline == memory.BASELINE  # no convolution: no workspace
    outputs = 784 + 512 + 512 + 256 + 256 + 10  # flatten, linear, relu, linear, relu, linear
    assert got.per_image == int(4 * (memory.ACTIVATION_FACTOR * outputs + 784 + 2 * 784))
    assert got.total == got.fixed + max(got.activations, got.checkpoint, got.evaluation)


def test_optimizer_state_counts_the_slots():
    def slots(**optimizer):
        return memory.optimizer_slots(resolve_config({"optimizer": optimizer}))

    assert slots() == 1 and slots(momentum=0.0, nesterov=False) == 0
    assert slots(name="adam") == 2 and slots(name="adam", options={"amsgrad": True}) == 3
    assert slots(name="rmsprop") == 1 and slots(name="rmsprop", momentum=0.9) == 2


@pytest.mark.usefixtures("fast_init")
def test_vgg16_at_imagenet_size_would_not_fit_and_at_mnist_size_does():
    """The issue's run: vgg16 on MNIST resized to 224x224, batch 128, was killed at 24 GB."""
    config = resolve_config({"model": "vgg16", "dataset": "mnist"})
    model = registry.create_for_input("vgg16", (1, 32, 32), 10)  # adaptive pooling: runs at both sizes
    totals = {}
    for side in (32, 224):
        size = (1, side, side)
        table = summary(model, size)
        totals[side] = memory.estimate_training(
            config, table, DATASETS["mnist"], recipes.eval_images(size)
        ).total
    assert 3 * GB < totals[32] < 8 * GB and totals[224] > 24 * GB


def test_the_largest_batch_that_fits_a_budget():
    got = estimate("small_cnn", batch_size=128)
    budget = 2 * GB
    batch = got.largest_batch(budget)
    assert batch > 128
    for size, fits in ((batch, True), (batch + 1, False)):
        got.batch_size = size
        assert (got.total <= budget) == fits
    assert got.largest_batch(got.fixed) == 0  # nothing left for a batch


def test_check_refuses_above_the_available_memory_and_warns_near_it():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        memory.check(5 * GB, "it needs 5 GB", "Do less.", available=10 * GB)  # no warning
    with pytest.warns(UserWarning) as caught:
        memory.check(7 * GB, "it needs 7 GB", "Do less.", available=10 * GB)
    assert [str(warning.message) for warning in caught] == [
        "it needs 7 GB, and this machine has 10.0 GB available: it may not fit (the estimate can be 40% "
        "low). Do less."
    ]
    with pytest.raises(memory.InsufficientMemoryError) as error:
        memory.check(11 * GB, "it needs 11 GB", "Do less.", available=10 * GB)
    assert str(error.value) == (
        "it needs 11 GB, but this machine has 10.0 GB available: it would be killed. Do less."
    )
    assert isinstance(error.value, MemoryError) and error.value.exit_status == 2


def test_the_available_memory_is_read_from_the_system():
    available = memory.available_memory()
    assert available is None or available > 0
