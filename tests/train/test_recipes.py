"""Recipes: a model runs at its data set's size when it can, and the run says how the images were changed."""

from __future__ import annotations

import numpy as np
import pytest

from ember.train import recipes
from ember.train.config import ConfigError, resolve_config
from ember.train.datasets import DATASETS


@pytest.mark.parametrize(
    ("model", "dataset", "options", "side"),
    [
        ("resnet18", "cifar10", {}, 32),  # a global pooling: the data's size, not ImageNet's 224
        ("vgg16", "mnist", {}, 32),  # five 2x2 poolings need 32 (it was resized to 224, 24 GB at batch 128)
        ("vgg16", "cifar10", {}, 32),
        ("lenet5", "mnist", {}, 32),  # LeCun et al.'s padding of the 28x28 digits
        ("lenet5", "mnist", {"padding": 2}, 28),  # the model pads them itself
        ("alexnet", "fashion-mnist", {}, 63),
        ("densenet121", "mnist", {}, 29),
        ("small_cnn", "cifar10", {}, 32),
    ],
)
def test_the_model_runs_at_the_data_size_or_the_nearest_it_takes(model, dataset, options, side):
    config = resolve_config({"model": model, "dataset": dataset, "model_options": options})
    info = DATASETS[dataset]
    assert recipes.model_input_size(config, info) == (info.channels, side, side)


@pytest.mark.parametrize(("side", "padded"), [(29, True), (32, True), (36, True), (37, False), (63, False)])
def test_the_pipeline_pads_a_few_pixels_and_resizes_beyond(side, padded):
    info = DATASETS["mnist"]
    images = np.full((2, 1, 28, 28), 200, np.uint8)
    out = recipes.transforms_for(info, (1, side, side)).apply_batch(images)
    assert out.shape == (2, 1, side, side)
    background = (0 - info.mean[0]) / info.std[0]
    assert np.isclose(out[0, 0, -1, -1], background) == padded  # zero padding: a border of 0 (black)


def test_the_banner_says_how_the_images_were_changed_to_fit():
    info = DATASETS["mnist"]

    def words(model):
        config = resolve_config({"model": model, "dataset": "mnist"})
        return recipes.describe_input(config, info, recipes.model_input_size(config, info))

    assert words("small_cnn") == "input 1x28x28"
    assert words("lenet5") == (
        "input 1x32x32 (the data set's 28x28 images zero-padded to 32x32: lenet5 takes 32x32 inputs)"
    )
    assert words("alexnet") == (
        "input 1x63x63 (the data set's 28x28 images resized to 63x63: alexnet takes inputs of at least 63x63)"
    )


def test_googlenet_is_built_without_its_auxiliary_classifiers_for_the_trainer():
    import ember

    config = resolve_config({"model": "googlenet", "dataset": "mnist"})
    model = recipes.build_model(config, 10, 1, 28)
    scores = model(ember.zeros(2, 1, 28, 28))  # training mode: the auxiliary heads would run here
    assert isinstance(scores, ember.Tensor) and scores.shape == (2, 10)
    with pytest.raises(ConfigError, match=r"model_options\.aux_logits: ember train trains GoogLeNet's main"):
        recipes.build_model(
            resolve_config({"model": "googlenet", "model_options": {"aux_logits": True}}), 10, 1, 28
        )


@pytest.mark.parametrize(
    ("input_size", "batch", "expected"),
    [((1, 28, 28), 128, 256), ((3, 32, 32), 128, 256), ((1, 64, 64), 32, 64), ((3, 224, 224), 8, 8),
     ((3, 224, 224), 1, 5), ((1, 28, 28), 512, 512)],
)  # fmt: skip
def test_evaluation_batches_hold_a_fixed_budget_of_pixels_or_the_training_batch(input_size, batch, expected):
    config = resolve_config({"batch_size": batch})
    assert recipes.eval_batch_size(config, input_size) == expected
