"""Module hooks against PyTorch: full backward hooks and pre-hooks see (and may replace) the same gradients,
and every register_*_hook returns a handle that removes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember import nn
from tests.nn.harness import torch_state_as_numpy


def _pair(seed: int = 0) -> tuple[nn.Module, torch.nn.Module]:
    """The same small network in both frameworks: Linear, Tanh, Linear."""
    torch.manual_seed(seed)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    ours = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    ours.load_state_dict(torch_state_as_numpy(theirs))
    return ours, theirs


def _record(seen: list) -> object:
    def hook(module, grad_input, grad_output):
        seen.append(
            (
                [None if g is None else np.array(g.detach().numpy() if hasattr(g, "detach") else g.array)
                 for g in grad_input],
                [None if g is None else np.array(g.detach().numpy() if hasattr(g, "detach") else g.array)
                 for g in grad_output],
            )
        )  # fmt: skip

    return hook


def _same(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs)
    for (our_in, our_out), (their_in, their_out) in zip(ours, theirs, strict=True):
        for a, b in [*zip(our_in, their_in, strict=True), *zip(our_out, their_out, strict=True)]:
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


X = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
WEIGHTS = np.random.default_rng(2).standard_normal((6, 3)).astype(np.float32)


def _loss(framework, out):
    if framework is torch:
        return (out * torch.from_numpy(WEIGHTS)).sum()
    return (out * ember.from_numpy(WEIGHTS)).sum()


@pytest.mark.parametrize("input_requires_grad", [True, False])
@pytest.mark.filterwarnings("ignore:Full backward hook is firing")  # PyTorch's note when no input needs grad
def test_full_backward_hook_sees_torchs_gradients(input_requires_grad):
    ours, theirs = _pair()
    seen_ours, seen_theirs = [], []
    for index in (0, 2):  # the first layer (its input may not require grad) and the last one
        ours[index].register_full_backward_hook(_record(seen_ours))
        theirs[index].register_full_backward_hook(_record(seen_theirs))
    x_ours = ember.from_numpy(X.copy()).requires_grad_(input_requires_grad)
    x_theirs = torch.from_numpy(X.copy()).requires_grad_(input_requires_grad)
    _loss(ember, ours(x_ours)).backward()
    _loss(torch, theirs(x_theirs)).backward()
    _same(seen_ours, seen_theirs)  # last layer first, as the gradient flows
    assert seen_ours[1][0] == [None] if not input_requires_grad else seen_ours[1][0][0] is not None
    for ours_param, theirs_param in zip(ours.parameters(), theirs.parameters(), strict=True):
        np.testing.assert_allclose(ours_param.grad.array, theirs_param.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_grad_input_is_this_calls_share_when_the_input_is_used_elsewhere_too():
    ours, theirs = _pair()
    seen_ours, seen_theirs = [], []
    ours[0].register_full_backward_hook(_record(seen_ours))
    theirs[0].register_full_backward_hook(_record(seen_theirs))
    x_ours = ember.from_numpy(X.copy()).requires_grad_()
    x_theirs = torch.from_numpy(X.copy()).requires_grad_()
    (_loss(ember, ours(x_ours)) + (x_ours * x_ours).sum()).backward()
    (_loss(torch, theirs(x_theirs)) + (x_theirs * x_theirs).sum()).backward()
    _same(seen_ours, seen_theirs)
    np.testing.assert_allclose(x_ours.grad.array, x_theirs.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_returning_grad_input_replaces_it():
    ours, theirs = _pair()
    ours[2].register_full_backward_hook(lambda m, gi, go: (gi[0] * 3,))
    theirs[2].register_full_backward_hook(lambda m, gi, go: (gi[0] * 3,))
    x_ours = ember.from_numpy(X.copy()).requires_grad_()
    x_theirs = torch.from_numpy(X.copy()).requires_grad_()
    _loss(ember, ours(x_ours)).backward()
    _loss(torch, theirs(x_theirs)).backward()
    np.testing.assert_allclose(x_ours.grad.array, x_theirs.grad.numpy(), rtol=1e-5, atol=1e-6)
    first = ours[0].weight.grad.array
    np.testing.assert_allclose(first, theirs[0].weight.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_backward_pre_hook_sees_and_replaces_grad_output():
    ours, theirs = _pair()
    seen_ours, seen_theirs = [], []
    for model, seen in ((ours, seen_ours), (theirs, seen_theirs)):
        model[1].register_full_backward_pre_hook(
            lambda m, go, seen=seen: seen.append(np.array(getattr(go[0], "numpy", lambda: go[0].array)()))
        )
        model[2].register_full_backward_pre_hook(lambda m, go: (go[0] * 0.5,))
    _loss(ember, ours(ember.from_numpy(X.copy()))).backward()
    _loss(torch, theirs(torch.from_numpy(X.copy()))).backward()
    np.testing.assert_allclose(seen_ours[0], seen_theirs[0], rtol=1e-5, atol=1e-6)
    for ours_param, theirs_param in zip(ours.parameters(), theirs.parameters(), strict=True):
        np.testing.assert_allclose(ours_param.grad.array, theirs_param.grad.numpy(), rtol=1e-5, atol=1e-6)


class _Scaled(torch.nn.Module):
    def forward(self, a, b, scale):
        return a * b * scale


class _EmberScaled(nn.Module):
    def forward(self, a, b, scale):
        return a * b * scale


def test_several_inputs_and_a_plain_argument():
    seen_ours, seen_theirs = [], []
    ours, theirs = _EmberScaled(), _Scaled()
    ours.register_full_backward_hook(_record(seen_ours))
    theirs.register_full_backward_hook(_record(seen_theirs))
    a, b = X[:, :3], WEIGHTS
    ember_a, torch_a = (
        ember.from_numpy(a.copy()).requires_grad_(),
        torch.from_numpy(a.copy()).requires_grad_(),
    )
    (ours(ember_a, ember.from_numpy(b.copy()), 2.0) ** 2).sum().backward()
    (theirs(torch_a, torch.from_numpy(b.copy()), 2.0) ** 2).sum().backward()
    _same(seen_ours, seen_theirs)  # grad_input: a's gradient, zeros for b (no grad), None for the float
    assert [g is None for g in seen_ours[0][0]] == [False, False, True]
    assert not seen_ours[0][0][1].any()
    b_ours = ember.from_numpy(b.copy()).requires_grad_()
    ours.register_full_backward_hook(lambda m, gi, go: gi)  # returning grads of two inputs: refused
    with pytest.raises(RuntimeError, match="one tensor input"):
        (ours(ember.from_numpy(a.copy()).requires_grad_(), b_ours, 2.0) ** 2).sum().backward()


def test_hooks_on_a_container_and_under_no_grad():
    ours, theirs = _pair()
    seen_ours, seen_theirs = [], []
    ours.register_full_backward_hook(_record(seen_ours))
    theirs.register_full_backward_hook(_record(seen_theirs))
    x_ours = ember.from_numpy(X.copy()).requires_grad_()
    x_theirs = torch.from_numpy(X.copy()).requires_grad_()
    _loss(ember, ours(x_ours)).backward()
    _loss(torch, theirs(x_theirs)).backward()
    _same(seen_ours, seen_theirs)
    with ember.no_grad():
        out = ours(x_ours)
    assert out.grad_fn is None and len(seen_ours) == 1


def test_handles_remove_hooks_and_prepend_orders_them():
    layer = nn.Linear(2, 2)
    order: list[str] = []
    first = layer.register_forward_hook(lambda m, i, o: order.append("first"))
    layer.register_forward_hook(lambda m, i, o: order.append("early"), prepend=True)
    layer.register_forward_hook(lambda m, i, o: order.append("first"))  # the same function twice: both kept
    layer(ember.ones(1, 2))
    assert order == ["early", "first", "first"]
    first.remove()
    first.remove()  # removing twice is harmless, as in PyTorch
    order.clear()
    layer(ember.ones(1, 2))
    assert order == ["early", "first"]
    calls = []
    with layer.register_full_backward_hook(lambda m, gi, go: calls.append(1)):
        layer(ember.ones(1, 2, requires_grad=True)).sum().backward()
    layer(ember.ones(1, 2, requires_grad=True)).sum().backward()
    assert calls == [1]
    with pytest.raises(TypeError, match="callable"):
        layer.register_full_backward_hook("not a function")


def test_backward_hooks_on_every_layer_change_no_gradient_even_with_in_place_layers():
    """A hooked call works on copies, so ReLU(inplace=True) after batch norm (whose backward reads its saved
    output) still gives the gradients of the unhooked network (PyTorch refuses in-place changes there)."""
    ember.manual_seed(0)
    hooked = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(inplace=True), nn.Linear(6, 3))
    plain = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    plain.load_state_dict(hooked.state_dict())
    seen = []
    for layer in hooked:
        layer.register_full_backward_hook(lambda m, gi, go: seen.append(type(m).__name__))
    for model in (hooked, plain):
        _loss(ember, model(ember.from_numpy(X.copy()).requires_grad_())).backward()
    assert seen == ["Linear", "ReLU", "BatchNorm1d", "Linear"]
    for ours, reference in zip(hooked.parameters(), plain.parameters(), strict=True):
        np.testing.assert_array_equal(ours.grad.array, reference.grad.array)
