"""Module mechanics: registration, traversal, state dicts in PyTorch's names, modes, gradients, repr."""

import copy
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch

import ember
from ember import nn
from tests.nn.harness import torch_state_as_numpy


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Dropout(0.3))
        self.blocks = torch.nn.ModuleList([TorchBlock(), TorchBlock()])
        self.heads = torch.nn.ModuleDict({"scores": torch.nn.Linear(5, 3)})
        self.scale = torch.nn.Parameter(torch.tensor([2.0]))

    def forward(self, x):
        x = self.features(x)
        x = self.blocks[0].act(self.blocks[0].bn(self.blocks[0].fc(x)))
        return self.heads["scores"](x) * self.scale


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 5)
        self.bn = torch.nn.BatchNorm1d(5)
        self.act = torch.nn.ReLU()


class EmberNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(0.3))
        self.blocks = nn.ModuleList([EmberBlock(), EmberBlock()])
        self.heads = nn.ModuleDict({"scores": nn.Linear(5, 3)})
        self.scale = nn.Parameter(ember.tensor([2.0]))

    def forward(self, x):
        x = self.features(x)
        x = self.blocks[0].act(self.blocks[0].bn(self.blocks[0].fc(x)))
        return self.heads["scores"](x) * self.scale


class EmberBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 5)
        self.bn = nn.BatchNorm1d(5)
        self.act = nn.ReLU()


def test_state_dict_keys_order_and_shapes_match_pytorch():
    ours, theirs = EmberNet().state_dict(), TorchNet().state_dict()
    assert list(ours) == list(theirs)
    for key in theirs:
        assert tuple(ours[key].shape) == tuple(theirs[key].shape), key
        assert ours[key].dtype == theirs[key].numpy().dtype, key


@pytest.mark.parametrize("train", [False, True])
def test_pytorch_state_dict_loads_and_gives_the_same_outputs(train):
    torch.manual_seed(0)
    reference = TorchNet()
    with torch.no_grad():  # running statistics away from their initial values
        for block in reference.blocks:
            block.bn.running_mean.normal_()
            block.bn.running_var.uniform_(0.5, 2.0)
            block.bn.weight.normal_()
    model = EmberNet()
    result = model.load_state_dict(torch_state_as_numpy(reference))
    assert result.missing_keys == [] and result.unexpected_keys == []
    model.train(train)
    reference.train(train)
    model.features[2].p = reference.features[2].p = 0.0  # dropout off, to compare train mode exactly
    x = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)
    expected = reference(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model(ember.tensor(x)).array, expected, rtol=1e-5, atol=1e-6)
    for key, value in reference.state_dict().items():  # including the updated running statistics
        np.testing.assert_allclose(model.state_dict()[key].array, value.numpy(), rtol=1e-5, atol=1e-6)


def test_ember_state_dict_loads_into_pytorch():
    model = EmberNet()
    reference = TorchNet()
    reference.load_state_dict({k: torch.from_numpy(v.array.copy()) for k, v in model.state_dict().items()})
    model.eval()
    reference.eval()
    x = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_allclose(
        model(ember.tensor(x)).array, reference(torch.from_numpy(x)).detach(), rtol=1e-5
    )


def test_missing_and_unexpected_keys_are_listed():
    model = EmberNet()
    state = model.state_dict()
    del state["blocks.1.bn.running_var"], state["scale"]
    state["blocks.2.fc.weight"] = np.zeros((5, 6))
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert "EmberNet" in message
    assert 'missing key(s) in state_dict: "scale", "blocks.1.bn.running_var"' in message
    assert '"blocks.2.fc.weight"' in message
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["scale", "blocks.1.bn.running_var"]
    assert result.unexpected_keys == ["blocks.2.fc.weight"]


def test_shape_mismatch_names_the_key_and_both_shapes_and_changes_nothing():
    model = EmberNet()
    before = {k: v.array.copy() for k, v in model.state_dict().items()}
    state = {k: np.zeros(v.shape, v.dtype) for k, v in model.state_dict().items()}
    state["heads.scores.weight"] = np.zeros((4, 5), np.float32)
    for strict in (True, False):
        with pytest.raises(
            RuntimeError, match=r"size mismatch for heads\.scores\.weight.*\(4, 5\).*\(3, 5\)"
        ):
            model.load_state_dict(state, strict=strict)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.array, before[key])


def test_load_copies_in_place_so_references_stay_valid():
    model = nn.Linear(3, 2)
    weight = model.weight
    model.load_state_dict({"weight": np.ones((2, 3), np.float32), "bias": np.zeros(2, np.float32)})
    assert model.weight is weight and weight.dtype == np.float32 and np.all(weight.array == 1)


@pytest.mark.parametrize(
    "weight, message",
    [
        (np.ones((2, 3), np.int64), r"dtype mismatch for weight: .* type int64 .* model is float32"),
        (np.ones((2, 3), bool), r"dtype mismatch for weight: .* type bool .* model is float32"),
        (np.ones((2, 3), np.complex64), r"dtype mismatch for weight: .* type complex64"),
        (np.full((2, 3), 1e40), r"values of weight overflow float32"),
    ],
)
def test_load_refuses_values_of_another_kind_and_changes_nothing(weight, message):
    model = nn.Linear(3, 2)
    before = model.weight.array.copy()
    with pytest.raises(RuntimeError, match=message) as error:
        model.load_state_dict({"weight": weight, "bias": np.zeros(2, np.float32)})
    assert isinstance(error.value, ember.errors.EmberError) and len(error.value.problems) == 1
    np.testing.assert_array_equal(model.weight.array, before)


def test_load_rounds_float64_with_a_warning_naming_the_keys_and_widens_float16_silently():
    model = nn.Linear(3, 2)
    with pytest.warns(UserWarning, match=r"rounded .*: weight \(float64 to float32\), bias \(float64 to"):
        model.load_state_dict({"weight": np.full((2, 3), 1 / 3), "bias": np.zeros(2)})
    assert model.weight.array[0, 0] == np.float32(1 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.load_state_dict({"weight": np.ones((2, 3), np.float16), "bias": np.zeros(2, np.float32)})
    assert np.all(model.weight.array == 1)


def test_load_integer_buffers_must_fit():
    model = nn.BatchNorm1d(2)
    state = {k: v.array.copy() for k, v in model.state_dict().items()}
    model.load_state_dict({**state, "num_batches_tracked": np.array(7, np.int32)})
    assert model.num_batches_tracked.item() == 7
    with pytest.raises(RuntimeError, match="dtype mismatch for num_batches_tracked"):
        model.load_state_dict({**state, "num_batches_tracked": np.array(7.0)})
    with pytest.raises(RuntimeError, match=r"values of num_batches_tracked \(uint64\) do not fit in int64"):
        model.load_state_dict({**state, "num_batches_tracked": np.array(2**63, np.uint64)})


def test_long_key_lists_are_shortened():
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(8)])
    with pytest.raises(RuntimeError, match=r'missing key\(s\) in state_dict: "0.weight", .* and 6 more$'):
        model.load_state_dict({})


def test_traversal_parameters_buffers_children_modules():
    model = EmberNet()
    names = [name for name, _ in model.named_parameters()]
    assert names == [k for k in TorchNet().state_dict() if "running" not in k and "num_batches" not in k]
    assert len(list(model.parameters())) == len(names)
    assert [n for n, _ in model.named_buffers()][:3] == [
        "blocks.0.bn.running_mean",
        "blocks.0.bn.running_var",
        "blocks.0.bn.num_batches_tracked",
    ]
    assert [n for n, _ in model.named_children()] == ["features", "blocks", "heads"]
    assert [type(m).__name__ for m in model.modules()][:5] == [
        "EmberNet",
        "Sequential",
        "Linear",
        "Tanh",
        "Dropout",
    ]
    assert list(model.parameters(recurse=False)) == [model.scale]
    assert model.get_submodule("blocks.1.bn") is model.blocks[1].bn


def test_shared_parameters_are_counted_once_but_named_twice_in_state_dict():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, layer)
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == list(torch.nn.Sequential(*[torch.nn.Linear(2, 2)] * 2).state_dict())


def test_train_eval_reach_every_module_and_call_overrides():
    calls = []

    class Recorder(nn.Module):
        def train(self, mode=True):
            calls.append(mode)
            return super().train(mode)

    model = nn.Sequential(nn.Dropout(), nn.Sequential(Recorder(), nn.BatchNorm1d(2)))
    assert model.eval() is model
    assert not any(m.training for m in model.modules()) and calls == [False]
    model.train()
    assert all(m.training for m in model.modules()) and calls == [False, True]
    with pytest.raises(ValueError, match="boolean"):
        model.train("no")


def test_zero_grad_requires_grad_and_apply():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    model(ember.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad.array) for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model[0].requires_grad_(False)  # freeze the first layer (transfer learning)
    model(ember.ones(4, 3)).sum().backward()
    assert model[0].weight.grad is None and model[2].weight.grad is not None
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "ReLU", "Linear", "Sequential"]


def test_repr_matches_pytorch():
    def build(lib):
        return lib.Sequential(
            lib.Linear(2, 3), lib.ReLU(inplace=True), lib.LeakyReLU(), lib.Dropout(0.2), lib.Flatten(),
            lib.Softmax(dim=1), lib.Sequential(lib.Tanh(), lib.LogSoftmax(dim=1)), lib.CrossEntropyLoss(),
            lib.Identity(), lib.ELU(), lib.PReLU(), lib.LocalResponseNorm(5), lib.Unflatten(1, (2, 2)),
            lib.Dropout2d(),
        )  # fmt: skip

    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    assert (
        repr(nn.BatchNorm2d(16))
        == "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    )


def test_module_list_repr_groups_repeated_layers_like_pytorch():
    def build(lib):
        tanh = [lib.Sequential(lib.Tanh()) for _ in range(2)]
        return lib.ModuleList([lib.Linear(2, 2), lib.Linear(2, 2), lib.ReLU(), *tanh])

    assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


def test_containers_index_slice_append_insert_delete():
    a, b, c = nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    seq = nn.Sequential(a, b, c)
    assert seq[0] is a and seq[-1] is c and len(seq) == 3 and list(seq) == [a, b, c]
    assert list(seq[1:]) == [b, c] and isinstance(seq[1:], nn.Sequential)
    del seq[0]
    assert list(seq._modules) == ["0", "1"] and seq[0] is b  # renumbered, as PyTorch
    seq.append(a).insert(0, c)
    assert list(seq) == [c, b, c, a]
    named = nn.Sequential(OrderedDict([("conv", nn.Identity()), ("act", nn.ReLU())]))
    assert list(named._modules) == ["conv", "act"] and named.act is named[1]
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(list(layers.parameters())) == 6 and isinstance(layers[:2], nn.ModuleList)
    heads = nn.ModuleDict({"a": nn.Linear(1, 1)})
    heads["b"] = nn.Linear(1, 2)
    assert list(heads) == ["a", "b"] and "b" in heads and len(list(heads.parameters())) == 4
    with pytest.raises(IndexError, match="out of range"):
        seq[7]


def test_setattr_registers_and_guards():
    model = nn.Module()
    model.w = nn.Parameter(ember.ones(2))
    model.child = nn.Linear(1, 1)
    model.register_buffer("stat", ember.zeros(2))
    model.register_buffer("scratch", ember.zeros(1), persistent=False)
    assert list(model.state_dict()) == ["w", "stat", "child.weight", "child.bias"]
    with pytest.raises(TypeError, match="Parameter or None"):
        model.w = ember.ones(2)
    model.w = None
    assert "w" not in model.state_dict()
    del model.child
    assert list(model.children()) == []

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ember.ones(1))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Early()


def test_forward_hooks():
    layer = nn.Linear(2, 2)
    seen = []
    remove = layer.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    layer.register_forward_pre_hook(lambda m, inputs: (inputs[0] * 0,))
    out = layer(ember.ones(3, 2))
    np.testing.assert_allclose(out.array, np.broadcast_to(layer.bias.array, (3, 2)))
    remove()
    layer(ember.ones(3, 2))
    assert seen == [(3, 2)]


def test_double_converts_parameters_and_buffers_in_place():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    weight = model[0].weight
    assert model.double() is model and model[0].weight is weight
    assert weight.dtype == np.float64 and model[1].running_var.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    assert model(ember.ones(3, 2, dtype=ember.float64)).dtype == np.float64
    assert model.float()[0].weight.dtype == np.float32 and model.to("cpu") is model


def test_deepcopy_and_pickle_keep_structure_and_values():
    model = EmberNet()
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert list(clone.state_dict()) == list(model.state_dict())
        assert clone.features[0].weight is not model.features[0].weight
        np.testing.assert_array_equal(clone.features[0].weight.array, model.features[0].weight.array)
        assert isinstance(clone.features[0].weight, nn.Parameter)


def test_parameter_shares_the_array_of_a_tensor_or_numpy_array():
    array = np.zeros(3, dtype=np.float64)
    param = nn.Parameter(array)
    assert param.array is array and param.dtype == np.float64 and param.requires_grad
    tensor = ember.ones(2)
    assert nn.Parameter(tensor, requires_grad=False).array is tensor.array
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32


def test_replacing_a_child_or_a_parameter_keeps_its_place():
    model = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 3))
    model[0] = nn.Linear(1, 2)  # as PyTorch: the new layer takes the old one's place, forward order kept
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    model.add_module("1", nn.Tanh())
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear"]
    layer = model[2]
    layer.weight = nn.Parameter(ember.zeros(3, 2))
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert model(ember.ones(4, 1)).shape == (4, 3)
