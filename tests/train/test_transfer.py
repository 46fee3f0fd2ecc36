"""Transfer learning: a frozen part is bit-identical after training and receives no gradient (its batch
norm keeps its statistics); the head is replaced; parameter groups train at their own rates, as PyTorch's
optimizer does on the same groups; each strategy trains what the lecture's table says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember import nn, optim
from ember.data import DataLoader, TensorDataset
from ember.models import registry
from ember.train import Trainer, transfer

from .helpers import mnist_tensors


def cnn() -> nn.Module:
    ember.manual_seed(0)
    return registry.create("small_cnn", num_classes=10, width=4, hidden=16)


def loader(count: int = 64) -> DataLoader:
    x, y = mnist_tensors(count)
    return DataLoader(TensorDataset(ember.from_numpy(x), ember.from_numpy(y % 5)), batch_size=32)


def snapshot(module: nn.Module) -> dict[str, np.ndarray]:
    return {name: value.array.copy() for name, value in module.state_dict().items()}


@pytest.mark.parametrize("strategy", ["linear", "top"])
def test_a_frozen_part_is_bit_identical_after_training_and_gets_no_gradient(strategy: str) -> None:
    model = cnn()
    groups = transfer.prepare_finetuning(model, strategy, lr=0.1, num_classes=5)
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen and "features.0.weight" in frozen and "classifier.5.weight" not in frozen
    before = snapshot(model.features[:2])  # the first convolution and its batch norm (statistics included)
    trained_before = model.classifier[5].weight.array.copy()
    Trainer(model, optim.SGD(groups, lr=0.1, momentum=0.9)).fit(loader(), epochs=2)
    after = snapshot(model.features[:2])
    assert all(np.array_equal(before[k], after[k]) for k in before), "a frozen tensor changed"
    assert all(dict(model.named_parameters())[name].grad is None for name in frozen)
    assert not np.array_equal(trained_before, model.classifier[5].weight.array)


def test_freeze_keeps_batch_norm_in_eval_mode_and_unfreeze_restores_it() -> None:
    model = cnn()
    transfer.freeze(model.features)
    model.train()
    model(ember.from_numpy(mnist_tensors(4)[0]))
    assert not model.features[1].training and model.classifier.training
    stats = model.features[1].running_mean.array.copy()
    model(ember.from_numpy(mnist_tensors(4, offset=4)[0]))
    assert np.array_equal(stats, model.features[1].running_mean.array)
    transfer.unfreeze(model.features)
    model.train()
    model(ember.from_numpy(mnist_tensors(4)[0]))
    assert model.features[1].training and not np.array_equal(stats, model.features[1].running_mean.array)
    assert all(p.requires_grad for p in model.parameters())


def test_without_batchnorm_eval_frozen_statistics_follow_the_data() -> None:
    model = cnn()
    transfer.freeze(model.features, batchnorm_eval=False)
    stats = model.features[1].running_mean.array.copy()
    model.train()(ember.from_numpy(mnist_tensors(4)[0]))
    assert not np.array_equal(stats, model.features[1].running_mean.array)


def test_replace_head_and_the_strategies() -> None:
    model = cnn()
    assert transfer.head_name(model) == "classifier.5"
    assert transfer.head_name(registry.create("resnet18")) == "fc"
    old = model.classifier[5]
    new = transfer.replace_head(model, 3)
    assert model.classifier[5] is new and new is not old and new.out_features == 3
    assert model(ember.from_numpy(mnist_tensors(2)[0])).shape == (2, 3)
    trained = {}
    for strategy in transfer.STRATEGIES:
        groups = transfer.prepare_finetuning(model, strategy, lr=0.1, backbone_lr=0.1)
        trained[strategy] = {name for name, p in model.named_parameters() if p.requires_grad}
        assert groups[0]["lr"] == 0.1 and all(g["lr"] == pytest.approx(0.01) for g in groups[1:])
        assert sum(len(g["params"]) for g in groups) == len(trained[strategy])
    assert trained["linear"] == {"classifier.5.weight", "classifier.5.bias"}
    # top (2 layers before the head): the second convolution, its batch norm, the hidden linear layer
    top = {
        "features.4.weight",
        "features.5.weight",
        "features.5.bias",
        "classifier.2.weight",
        "classifier.2.bias",
    }
    assert trained["top"] == trained["linear"] | top
    assert trained["all"] == {name for name, _ in model.named_parameters()}
    with pytest.raises(transfer.TransferError, match="strategy must be one of"):
        transfer.prepare_finetuning(model, "some")


def test_parameter_groups_train_at_their_own_rates_as_in_pytorch() -> None:
    ember.manual_seed(0)
    ours = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 3))
    theirs = torch.nn.Sequential(
        torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)
    )
    theirs.load_state_dict({k: torch.from_numpy(v.array.copy()) for k, v in ours.state_dict().items()})
    groups = transfer.prepare_finetuning(ours, "top", lr=0.1, backbone_lr=0.1, layers=1)
    names = {id(p): n for n, p in ours.named_parameters()}
    by_name = dict(theirs.named_parameters())
    for p in theirs.parameters():
        p.requires_grad_(False)
    torch_groups = []
    for group in groups:
        params = [by_name[names[id(p)]] for p in group["params"]]
        for p in params:
            p.requires_grad_(True)
        torch_groups.append({"params": params, "lr": group["lr"]})
    mine = optim.SGD(groups, lr=1.0, momentum=0.9)
    other = torch.optim.SGD(torch_groups, lr=1.0, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.normal(size=(8, 6)).astype(np.float32)
        y = rng.integers(0, 3, 8)
        for model, opt, lib, loss in ((ours, mine, ember, nn.CrossEntropyLoss()),
                                      (theirs, other, torch, torch.nn.CrossEntropyLoss())):  # fmt: skip
            opt.zero_grad()
            loss(model(lib.from_numpy(x)), lib.from_numpy(y)).backward()
            opt.step()
    for name, value in ours.state_dict().items():
        np.testing.assert_allclose(value.array, theirs.state_dict()[name].numpy(), rtol=1e-5, atol=1e-6)
    assert [g["lr"] for g in mine.param_groups] == pytest.approx([0.1, 0.01])
    assert names[id(groups[0]["params"][0])] == "4.weight"  # the head, at the full rate
    assert {names[id(p)] for p in groups[1]["params"]} == {"2.weight", "2.bias"}


def test_pretrained_weights_from_a_plain_safetensors_file_load_but_for_the_head(tmp_path) -> None:
    from ember.models.convert import save_safetensors
    from ember.train import recipes
    from ember.train.config import resolve_config

    source = registry.create("small_cnn", num_classes=10, width=4, hidden=16)  # as torchvision's would be
    save_safetensors(source, tmp_path / "weights.safetensors")
    config = resolve_config({"model": "small_cnn", "model_options": {"width": 4, "hidden": 16},
                             "finetune": {"init_from": str(tmp_path / "weights.safetensors")}})  # fmt: skip
    model = recipes.build_model(config, 5, 1, 28)
    head = model.classifier[5].weight.array.copy()
    assert "a new classifier.5" in recipes.load_pretrained(config, model)
    for name, value in source.state_dict().items():
        if not name.startswith("classifier.5."):
            assert np.array_equal(value.array, model.state_dict()[name].array), name
    assert np.array_equal(head, model.classifier[5].weight.array) and head.shape == (5, 16)
