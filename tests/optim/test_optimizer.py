"""The Optimizer base: parameter groups, zero_grad, closures, state_dict format and bit-exact resumption."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch

import ember
import ember.nn
import ember.optim
from tests.optim.problems import mlp, quadratic

EVERY_OPTIMIZER: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01}),
    ("Adadelta", {"weight_decay": 0.01}),
    ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.9}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    ("AdamW", {"lr": 0.01}),
]
IDS = [name for name, _ in EVERY_OPTIMIZER]


def _train(optimizer: Any, loss: Any, steps: int, closure: bool = False) -> None:
    for _ in range(steps):
        if closure:
            optimizer.step(loss)
        else:
            loss()
            optimizer.step()


def _serialized(state_dict: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint keeps: tensors as NumPy arrays, everything else as plain Python values."""

    def convert(value: Any) -> Any:
        if isinstance(value, ember.Tensor):
            return np.array(value.array)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(convert(v) for v in value)
        assert value is None or isinstance(value, int | float | str | bool), type(value)
        return value

    return convert(state_dict)


@pytest.mark.parametrize(
    ("name", "options"),
    [*EVERY_OPTIMIZER, ("LBFGS", {"line_search_fn": "strong_wolfe"})],
    ids=[*IDS, "LBFGS"],
)
def test_resuming_from_a_state_dict_continues_bit_for_bit(name: str, options: dict[str, Any]) -> None:
    closure = name == "LBFGS"
    if closure:
        options = {**options, "max_iter": 3, "history_size": 4}
    problem = mlp("ember")
    optimizer = getattr(ember.optim, name)(problem.params, **options)
    _train(optimizer, problem.loss, 30, closure)
    saved_params = [p.array.copy() for p in problem.params]
    saved_state = _serialized(optimizer.state_dict())
    _train(optimizer, problem.loss, 30, closure)

    resumed = mlp("ember")
    for param, values in zip(resumed.params, saved_params, strict=True):
        param.array[...] = values
    fresh = getattr(ember.optim, name)(resumed.params, **options)
    fresh.load_state_dict(saved_state)
    _train(fresh, resumed.loss, 30, closure)
    for ours, uninterrupted in zip(resumed.params, problem.params, strict=True):
        assert np.array_equal(ours.array, uninterrupted.array)


@pytest.mark.parametrize(("name", "options"), EVERY_OPTIMIZER, ids=IDS)
def test_state_dict_has_pytorchs_format_and_values(name: str, options: dict[str, Any]) -> None:
    groups = [{}, {"lr": 0.005}]
    dicts = []
    for lib, module in (("ember", ember.optim), ("torch", torch.optim)):
        problem = quadratic(lib)
        param_groups = [{"params": [problem.params[i]], **g} for i, g in zip((0, 1), groups, strict=True)]
        optimizer = getattr(module, name)(param_groups, **options)
        _train(optimizer, problem.loss, 5)
        dicts.append(optimizer.state_dict())
    ours, theirs = dicts
    assert list(ours) == ["state", "param_groups"]
    assert ours["state"].keys() == theirs["state"].keys() == {0, 1}
    for index, state in ours["state"].items():
        assert list(state) == list(theirs["state"][index])
        for key, value in state.items():
            expected = theirs["state"][index][key]
            assert value.dtype == np.float32 and value.shape == tuple(expected.shape)
            np.testing.assert_allclose(value.array, expected.numpy(), rtol=1e-5, atol=1e-7)
    torch_only = {"foreach", "fused", "differentiable", "capturable"}  # implementation switches
    for group, expected in zip(ours["param_groups"], theirs["param_groups"], strict=True):
        assert group == {k: v for k, v in expected.items() if k not in torch_only}


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_a_pytorch_state_dict_loads_and_continues_like_pytorch(name: str) -> None:
    options = {"lr": 0.01, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    theirs = quadratic("torch")
    torch_optimizer = getattr(torch.optim, name)(theirs.params, **options)
    _train(torch_optimizer, theirs.loss, 20)
    state = torch_optimizer.state_dict()
    ours = quadratic("ember")
    for param, expected in zip(ours.params, theirs.params, strict=True):
        param.array[...] = expected.detach().numpy()
    optimizer = getattr(ember.optim, name)(ours.params, **options)
    optimizer.load_state_dict(state)
    _train(optimizer, ours.loss, 20)
    _train(torch_optimizer, theirs.loss, 20)
    for param, expected in zip(ours.params, theirs.params, strict=True):
        np.testing.assert_allclose(param.array, expected.detach().numpy(), rtol=1e-5)


def test_load_state_dict_copies_and_checks_the_groups() -> None:
    problem = quadratic("ember")
    optimizer = ember.optim.Adam(problem.params, lr=0.01)
    _train(optimizer, problem.loss, 3)
    saved = copy.deepcopy(optimizer.state_dict())
    fresh = ember.optim.Adam(quadratic("ember").params)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.01
    state = next(iter(fresh.state.values()))
    assert state["exp_avg"].array is not saved["state"][0]["exp_avg"].array
    with pytest.raises(ValueError, match="different number of parameter groups"):
        ember.optim.Adam([{"params": [problem.params[0]]}, {"params": [problem.params[1]]}]).load_state_dict(
            saved
        )
    with pytest.raises(ValueError, match="doesn't match the size"):
        ember.optim.Adam([problem.params[0]]).load_state_dict(saved)


def test_step_leaves_gradients_alone_and_keeps_float32() -> None:
    problem = quadratic("ember")
    optimizer = ember.optim.SGD(problem.params, lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True)
    problem.loss()
    grads = [p.grad.array.copy() for p in problem.params]
    optimizer.step()
    optimizer.step()
    for param, grad in zip(problem.params, grads, strict=True):
        assert np.array_equal(param.grad.array, grad)
        assert param.dtype == np.float32
        assert optimizer.state[param]["momentum_buffer"].dtype == np.float32


def test_parameters_without_gradient_are_skipped() -> None:
    a, b = ember.nn.Parameter(ember.ones(3)), ember.nn.Parameter(ember.ones(2))
    optimizer = ember.optim.Adam([a, b], lr=0.1)
    a.grad = ember.ones(3)
    optimizer.step()
    assert np.array_equal(b.array, np.ones(2, np.float32)) and b not in optimizer.state
    assert np.allclose(a.array, 0.9)


def test_zero_grad() -> None:
    problem = quadratic("ember")
    optimizer = ember.optim.SGD(problem.params, lr=0.1)
    problem.loss()
    grad = problem.params[0].grad
    optimizer.zero_grad(set_to_none=False)
    assert problem.params[0].grad is grad and not grad.array.any()
    optimizer.zero_grad()
    assert all(p.grad is None for p in problem.params)


def test_step_with_closure_returns_the_loss() -> None:
    problem = quadratic("ember")
    optimizer = ember.optim.SGD(problem.params, lr=0.01)
    with ember.no_grad():  # the closure still records the graph
        loss = optimizer.step(problem.loss)
    assert isinstance(loss, ember.Tensor) and problem.params[0].grad is not None


def test_param_groups_and_defaults() -> None:
    a, b, c = (ember.nn.Parameter(ember.ones(2)) for _ in range(3))
    optimizer = ember.optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    optimizer.add_param_group({"params": [c], "momentum": 0.0})
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5, 0.1]
    assert [g["momentum"] for g in optimizer.param_groups] == [0.9, 0.9, 0.0]
    with pytest.raises(ValueError, match="more than one parameter group"):
        optimizer.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="empty parameter list"):
        ember.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        ember.optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        ember.optim.Adam([a], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        ember.optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        ember.optim.Adam([a], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="parameter groups"):
        ember.optim.LBFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(NotImplementedError, match="differentiable"):
        ember.optim.Adam([a], differentiable=True)
    ember.optim.Adam([a], foreach=False, fused=None)  # PyTorch's kernel switches are accepted
    assert "Parameter Group 0" in repr(optimizer) and "lr: 0.5" in repr(optimizer)


def test_adagrad_state_exists_before_the_first_step_like_pytorchs() -> None:
    a = ember.nn.Parameter(ember.ones(2))
    optimizer = ember.optim.Adagrad([a], initial_accumulator_value=0.5)
    assert float(optimizer.state[a]["step"]) == 0.0
    assert np.array_equal(optimizer.state[a]["sum"].array, np.full(2, 0.5, np.float32))


def test_pickling_keeps_the_state_and_drops_the_scratch_buffers() -> None:
    import pickle

    problem = quadratic("ember")
    optimizer = ember.optim.Adam(problem.params, lr=0.01)
    _train(optimizer, problem.loss, 3)
    restored = pickle.loads(pickle.dumps(optimizer))
    assert restored._scratch == {} and optimizer._scratch
    state = restored.state_dict()["state"][0]
    np.testing.assert_array_equal(state["exp_avg"].array, optimizer.state_dict()["state"][0]["exp_avg"].array)
