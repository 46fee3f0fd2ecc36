"""PyTorch's and torchvision's addresses: ``ember.utils.data``, ``ember.vision.{datasets, transforms, utils,
models}`` with the weights API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.data
from ember.vision import datasets, models, transforms, utils
from ember.vision.models import SqueezeNet1_1_Weights, WeightsNotFoundError


def test_torch_utils_data_is_reachable_after_import_ember():
    assert ember.utils.data.DataLoader is ember.data.DataLoader
    from ember.utils.data import Dataset, Subset, TensorDataset, random_split

    assert (Dataset, Subset, TensorDataset, random_split) == (
        ember.data.Dataset,
        ember.data.Subset,
        ember.data.TensorDataset,
        ember.data.random_split,
    )


def test_torchvision_datasets_and_transforms_are_ember_s_own_classes():
    assert datasets.MNIST is ember.data.MNIST and datasets.CIFAR10 is ember.data.CIFAR10
    assert transforms.Compose is ember.data.transforms.Compose
    assert set(transforms.__all__) == set(ember.data.transforms.__all__)


def test_make_grid_returns_a_tensor_as_torchvision():
    batch = ember.rand(5, 1, 4, 4)
    grid = utils.make_grid(batch, nrow=2, padding=1)
    assert isinstance(grid, ember.Tensor) and grid.shape == (3, 3 * 5 + 1, 2 * 5 + 1)
    np.testing.assert_array_equal(grid.array, ember.data.transforms.make_grid(batch, nrow=2, padding=1))
    assert utils.make_grid([ember.ones(3, 2, 2), ember.zeros(3, 2, 2)], padding=0).shape == (3, 2, 4)


def test_weights_none_builds_random_weights_and_a_string_names_a_member():
    model = models.vgg11(weights=None, num_classes=10)
    assert model.classifier[-1].out_features == 10
    assert SqueezeNet1_1_Weights.verify("DEFAULT") is SqueezeNet1_1_Weights.IMAGENET1K_V1
    weights = SqueezeNet1_1_Weights
    assert weights.verify("SqueezeNet1_1_Weights.IMAGENET1K_V1") is weights.DEFAULT
    assert (
        SqueezeNet1_1_Weights.DEFAULT.url == "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"
    )
    with pytest.raises(ValueError, match="'IMAGENET' are not weights of SqueezeNet1_1_Weights"):
        models.squeezenet1_1(weights="IMAGENET")
    assert models.get_model("resnet18", weights=None).fc.out_features == 1000


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsNotFoundError, match=r"found no squeezenet1_1-b8a52dc0\.pth") as raised:
        models.squeezenet1_1(weights="DEFAULT")
    assert f"put it in {tmp_path}" in str(raised.value) and "weights=None" in str(raised.value)


def test_local_torchvision_weights_load_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBER_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = models.squeezenet1_1(weights=None)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch_state = {key: torch.from_numpy(value.array.copy()) for key, value in source.state_dict().items()}
    torch.save(torch_state, folder / "squeezenet1_1-b8a52dc0.pth")  # what torchvision's download leaves
    model = models.squeezenet1_1(weights=SqueezeNet1_1_Weights.IMAGENET1K_V1)
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key].array, value.array)
    with pytest.raises(ValueError, match="num_classes=10 does not fit"):
        models.squeezenet1_1(weights="DEFAULT", num_classes=10)
