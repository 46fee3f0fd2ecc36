"""Devices as PyTorch scripts use them: the device idiom picks the CPU, and another device is refused."""

from __future__ import annotations

import pytest
import torch

import ember
from ember import nn


def test_the_device_questions_answer_that_only_the_cpu_exists():
    assert ember.cuda.is_available() is False and ember.cuda.device_count() == 0
    assert ember.backends.mps.is_available() is False and ember.backends.mps.is_built() is False
    assert ember.accelerator.is_available() is False and ember.accelerator.current_accelerator() is None
    ember.cuda.manual_seed_all(0)  # accepted, as by a CPU-only PyTorch
    ember.backends.cudnn.deterministic = True


def test_the_usual_idioms_choose_the_cpu():
    a = ember.accelerator.current_accelerator().type if ember.accelerator.is_available() else "cpu"
    b = ember.device("cuda" if ember.cuda.is_available() else "cpu")
    c = "mps" if ember.backends.mps.is_available() else "cpu"
    assert a == c == "cpu" and b == ember.device("cpu") and b.type == "cpu" and b.index is None


@pytest.mark.parametrize("name", ["cpu", "cuda", "cuda:1", "mps", "meta"])
def test_device_names_print_as_pytorch(name):
    assert str(ember.device(name)) == str(torch.device(name))
    assert repr(ember.device(name)) == repr(torch.device(name))
    assert ember.device(name) == ember.device(name) and hash(ember.device(name)) == hash(ember.device(name))
    assert ember.device("cuda", 1) == ember.device("cuda:1")


def test_a_bad_device_string_says_what_is_expected():
    with pytest.raises(ValueError, match="at the start of the device string, got 'gpu'"):
        ember.device("gpu")


def test_tensors_live_on_the_cpu_and_to_cpu_returns_the_tensor_itself():
    x = ember.rand(2, 3, device="cpu")
    assert x.device == ember.device("cpu") and str(x.device) == "cpu" and not x.is_cuda
    assert x.to("cpu") is x and x.cpu() is x and x.to(ember.device("cpu")) is x and x.to(x) is x
    assert x.to("cpu", copy=True) is not x


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.to(ember.float64),
        lambda x: x.to("cpu", ember.float64),
        lambda x: x.to(device="cpu", dtype=ember.float64),
        lambda x: x.to(ember.zeros(1, dtype=ember.float64)),
        lambda x: x.double(),
        lambda x: x.type(ember.float64),
    ],
)
def test_to_takes_the_forms_pytorch_takes(call):
    assert call(ember.ones(2)).dtype == ember.float64


@pytest.mark.parametrize(
    "call",
    [
        lambda: ember.ones(2).to("cuda"),
        lambda: ember.ones(2).cuda(),
        lambda: ember.ones(2, device="cuda"),
        lambda: ember.zeros_like(ember.ones(2), device="mps"),
        lambda: nn.Linear(2, 2).to("cuda"),
        lambda: nn.Linear(2, 2).cuda(),
    ],
)
def test_another_device_raises_pytorchs_kind_of_error_saying_what_to_do(call):
    with pytest.raises(ember.DeviceUnavailableError, match="computes on the CPU only") as raised:
        call()
    assert isinstance(raised.value, AssertionError | RuntimeError)
    assert "'cuda' if ember.cuda.is_available() else 'cpu'" in str(raised.value)


@pytest.mark.parametrize(
    "factory",
    ["zeros", "ones", "empty", "rand", "randn"],
)
def test_factories_take_device_and_dtype(factory):
    x = getattr(ember, factory)(2, 3, device="cpu", dtype=ember.float64)
    assert x.shape == (2, 3) and x.dtype == ember.float64 and x.device.type == "cpu"


@pytest.mark.parametrize("factory", ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"])
def test_like_factories_take_dtype(factory):
    x = ember.ones(2, 3)
    assert getattr(ember, factory)(x, dtype=ember.float64, device="cpu").dtype == ember.float64
    assert getattr(ember, factory)(x).dtype == ember.float32


def test_other_factories_take_device():
    cpu = ember.device("cpu")
    assert ember.arange(3, device=cpu).device == cpu
    assert ember.tensor([1.0], device=cpu).device == cpu
    assert ember.full((2,), 1.0, device=cpu).device == cpu
    assert ember.eye(2, device=cpu).device == cpu
    assert ember.randint(0, 3, (2,), device=cpu).device == cpu
    assert ember.randperm(3, device=cpu).device == cpu
    assert ember.randint_like(ember.ones(2), 5).dtype == ember.float32


def test_module_to_takes_a_device_a_dtype_or_both():
    model = nn.Linear(2, 2)
    assert model.to("cpu") is model and model.to(ember.device("cpu")) is model
    assert model.to("cpu", ember.float64).weight.dtype == ember.float64
    assert model.to(dtype=ember.float32).weight.dtype == ember.float32
