"""Checks for modules (layers with parameters and buffers), on top of ``tests/helpers.py``.

``check_module_parity`` copies a PyTorch module's state into the Ember module through ``load_state_dict``
(as NumPy arrays, so it also tests state-dict compatibility), runs both on the same inputs, sends the same
random upstream gradient back and compares outputs, input gradients, every parameter's gradient and every
buffer afterwards (e.g. batch norm's running statistics).

``check_module_gradients`` runs ``ember.gradcheck`` in float64 on the inputs *and* the parameters of a
module, by swapping float64 tensors in for its parameters (a functional call).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

import ember
from tests.helpers import assert_close, check_gradients, to_ember, to_torch


def torch_state_as_numpy(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {key: value.detach().numpy().copy() for key, value in module.state_dict().items()}


def randomize_torch(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Parameters and running statistics away from their defaults, so that a mix-up shows."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, value in [*module.named_parameters(), *module.named_buffers()]:
            if value.is_floating_point():
                values = (
                    rng.uniform(0.5, 1.5, value.shape) if "var" in _ else rng.standard_normal(value.shape)
                )
                value.copy_(torch.from_numpy(values.astype(np.float32)))
    return module


def check_module_parity(
    ember_module: ember.nn.Module,
    torch_module: torch.nn.Module,
    inputs: Sequence[Any],
    *,
    train: bool = True,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    grad_rtol: float = 1e-4,
    grad_atol: float = 1e-5,
    seed: int = 0,
) -> None:
    """Same outputs, input and parameter gradients, and buffers after the call, in the given mode."""
    ember_module.load_state_dict(torch_state_as_numpy(torch_module))
    ember_module.train(train)
    torch_module.train(train)
    ember_inputs = [to_ember(x, requires_grad=True) for x in inputs]
    torch_inputs = [to_torch(x, requires_grad=True) for x in inputs]
    ember_out, torch_out = ember_module(*ember_inputs), torch_module(*torch_inputs)
    assert ember_out.dtype == torch_out.detach().numpy().dtype
    assert_close(ember_out, torch_out, rtol, atol, f"{type(ember_module).__name__} output")
    upstream = np.random.default_rng(seed).standard_normal(torch_out.shape).astype(np.float32)
    ember_out.backward(upstream)
    torch_out.backward(torch.from_numpy(upstream))
    for k, (e, t) in enumerate(zip(ember_inputs, torch_inputs, strict=True)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            assert_close(e.grad, t.grad, grad_rtol, grad_atol, f"gradient of input {k}")
    torch_params = dict(torch_module.named_parameters())
    ember_params = dict(ember_module.named_parameters())
    assert ember_params.keys() == torch_params.keys()
    for name, param in torch_params.items():
        if param.grad is None:
            assert ember_params[name].grad is None, f"{name}: Ember has a gradient, torch has none"
            continue
        assert ember_params[name].grad is not None, f"{name}: Ember computed no gradient"
        assert_close(ember_params[name].grad, param.grad, grad_rtol, grad_atol, f"gradient of {name}")
    for name, buffer in torch_module.named_buffers():
        assert_close(dict(ember_module.named_buffers())[name], buffer, rtol, atol, f"buffer {name}")


@contextlib.contextmanager
def parameters_swapped(module: ember.nn.Module, values: dict[str, ember.Tensor]) -> Iterator[None]:
    """Temporarily use ``values`` (any tensors) in place of the module's parameters of those names."""
    saved = []
    for name, value in values.items():
        owner_name, _, leaf = name.rpartition(".")
        owner = module.get_submodule(owner_name)
        saved.append((owner, leaf, owner._parameters[leaf]))
        owner._parameters[leaf] = value
    try:
        yield
    finally:
        for owner, leaf, original in saved:
            owner._parameters[leaf] = original


def check_module_gradients(
    module: ember.nn.Module, inputs: Sequence[Any], *, atol: float = 1e-5, rtol: float = 1e-3
) -> None:
    """gradcheck (float64, random upstream gradient) with respect to the inputs and every parameter."""
    module.double()
    names = [name for name, _ in module.named_parameters()]
    params = [param.array.astype(np.float64) for _, param in module.named_parameters()]
    count = len(inputs)

    def call(*tensors: Any) -> Any:
        with parameters_swapped(module, dict(zip(names, tensors[count:], strict=True))):
            return module(*tensors[:count])

    check_gradients(call, [*inputs, *params], atol=atol, rtol=rtol)
