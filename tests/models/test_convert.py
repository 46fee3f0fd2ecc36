"""Weights through safetensors files: torchvision -> Ember -> torchvision, and the conversion script."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ember
from ember import atomic, models
from ember.models import convert

from .oracle import logits, torchvision_model

safetensors_torch = pytest.importorskip("safetensors.torch")
SCRIPT = Path(__file__).parents[2] / "scripts" / "torch_to_safetensors.py"


def test_torchvision_to_ember_and_back_through_safetensors(tmp_path, skip_init):
    torch.manual_seed(0)
    reference = torchvision_model("resnet18", num_classes=10).eval()
    safetensors_torch.save_file(reference.state_dict(), tmp_path / "tv.safetensors")
    model = models.resnet18(num_classes=10)
    result = convert.load_safetensors_into(model, tmp_path / "tv.safetensors")
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(logits(model, x), logits(reference, x), atol=1e-4)

    convert.save_safetensors(model, tmp_path / "ember.safetensors")
    back = torchvision_model("resnet18", num_classes=10)
    back.load_state_dict(safetensors_torch.load_file(tmp_path / "ember.safetensors"))
    for key, value in back.state_dict().items():
        assert torch.equal(value, reference.state_dict()[key]), key
    assert back.state_dict()["bn1.num_batches_tracked"].dtype == torch.int64


def test_the_script_writes_torchvision_weights_that_ember_loads(tmp_path, skip_init):
    spec = importlib.util.spec_from_file_location("torch_to_safetensors", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "squeezenet.safetensors"
    assert script.main(["--torchvision", "squeezenet1_1", str(out), "--num-classes", "10"]) == 0
    model = models.squeezenet1_1(num_classes=10)
    convert.load_safetensors_into(model, out)
    arrays = convert.load_safetensors(out)
    np.testing.assert_array_equal(model.features[0].weight.detach().numpy(), arrays["features.0.weight"])

    pth = tmp_path / "state.pth"
    torch.save({"w": torch.ones(2, 3)}, pth)
    assert script.main([str(pth), str(tmp_path / "state.safetensors")]) == 0
    np.testing.assert_array_equal(
        convert.load_safetensors(tmp_path / "state.safetensors")["w"], np.ones((2, 3))
    )


def test_legacy_densenet_keys_are_renamed():
    arrays = {
        "features.denseblock1.denselayer1.norm.1.weight": np.ones(1),
        "features.denseblock1.denselayer1.conv.2.weight": np.ones(1),
        "features.norm5.weight": np.ones(1),
    }
    assert list(convert.rename_legacy_keys(arrays)) == [
        "features.denseblock1.denselayer1.norm1.weight",
        "features.denseblock1.denselayer1.conv2.weight",
        "features.norm5.weight",
    ]


def test_a_missing_safetensors_package_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(ImportError, match=r"pip install 'ember\[io\]'"):
        convert.load_safetensors("anything.safetensors")


def test_shape_mismatches_name_the_key_and_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    convert.save_safetensors({"fc.weight": np.zeros((3, 64), dtype=np.float32)}, path)
    with pytest.raises(RuntimeError, match=rf"for ResNet from {path}:\n\tsize mismatch for fc\.weight"):
        convert.load_safetensors_into(models.resnet20(), path, strict=False)


def test_a_damaged_or_missing_weights_file_is_named(tmp_path):
    from ember.errors import DataFormatError, MissingFileError

    path = tmp_path / "w.safetensors"
    convert.save_safetensors({"w": np.zeros(10, np.float32)}, path)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataFormatError, match=rf"^{path}: not a readable safetensors file \(.*incomplete"):
        convert.load_safetensors(path)
    with pytest.raises(MissingFileError, match=r"nowhere\.safetensors: no such weights file"):
        convert.load_safetensors(tmp_path / "nowhere.safetensors")


def test_saving_weights_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "weights.safetensors"
    convert.save_safetensors({"w": np.zeros(1000, np.float32)}, path)

    def half_then_crash(handle, data):
        handle.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(atomic, "write_chunks", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        convert.save_safetensors({"w": np.ones(1000, np.float32)}, path)
    np.testing.assert_array_equal(convert.load_safetensors(path)["w"], np.zeros(1000, np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["weights.safetensors"]  # no temporary file left


def test_ember_weights_load_back_into_ember_with_their_shapes(tmp_path):
    model = models.create("small_cnn", num_classes=10, in_channels=1)  # batch norm: a 0-d counter buffer
    model.train()
    model(ember.randn(4, 1, 28, 28))  # moves the running statistics and the counter
    convert.save_safetensors(model.state_dict(), tmp_path / "w.safetensors")
    state = model.state_dict()
    arrays = convert.load_safetensors(tmp_path / "w.safetensors")
    assert {k: v.shape for k, v in arrays.items()} == {k: v.shape for k, v in state.items()}
    fresh = models.create("small_cnn", num_classes=10, in_channels=1)
    assert convert.load_safetensors_into(fresh, tmp_path / "w.safetensors") == ([], [])
    for key, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value.array, state[key].array, err_msg=key)
