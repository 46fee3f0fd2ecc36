"""Second derivatives against PyTorch on the same weights: Hessian-vector products of a small MLP's and a
small CNN's loss, and the gradient of a gradient penalty (WGAN-GP style), written once for both libraries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F

RNG = np.random.default_rng(0)
MLP_WEIGHTS = [RNG.standard_normal(s) * 0.5 for s in [(6, 5), (6,), (3, 6), (3,)]]
CNN_WEIGHTS = [RNG.standard_normal(s) * 0.4 for s in [(3, 2, 3, 3), (3,), (3,), (3,), (3, 12), (3,)]]
CNN_WEIGHTS[2] += 1.0  # batch-norm scale around 1
INPUTS = {"mlp": RNG.standard_normal((8, 5)), "cnn": RNG.standard_normal((4, 2, 6, 6))}
LABELS = RNG.integers(0, 3, 8)


def mlp(lib, functional, params, x, activation):
    hidden = getattr(functional, activation)(functional.linear(x, params[0], params[1]))
    return functional.linear(hidden, params[2], params[3])


def cnn(lib, functional, params, x, activation):
    h = functional.conv2d(x, params[0], params[1], padding=1)
    h = functional.batch_norm(h, None, None, params[2], params[3], training=True)
    h = functional.max_pool2d(getattr(functional, activation)(h), 2)
    h = functional.avg_pool2d(h, 2, 1)  # 3x3 -> 2x2
    return functional.linear(h.reshape(x.shape[0], -1), params[4], params[5])


NETS = {"mlp": (mlp, MLP_WEIGHTS), "cnn": (cnn, CNN_WEIGHTS)}


def hvp_and_penalty(lib, net_name, activation, loss_name):
    functional = F if lib is ember else torch.nn.functional
    net, weights = NETS[net_name]
    params = [lib.tensor(w, dtype=lib.float64, requires_grad=True) for w in weights]
    x = lib.tensor(INPUTS[net_name], dtype=lib.float64, requires_grad=True)
    labels = lib.tensor(LABELS[: x.shape[0]])

    scores = net(lib, functional, params, x, activation)
    if loss_name == "cross_entropy":
        loss = functional.cross_entropy(scores, labels)
    else:
        loss = functional.mse_loss(scores, lib.ones(scores.shape, dtype=lib.float64))
    grads = lib.autograd.grad(loss, params, create_graph=True)
    directions = np.random.default_rng(1)
    vectors = [lib.tensor(directions.standard_normal(p.shape), dtype=lib.float64) for p in params]
    hvp = lib.autograd.grad(sum((g * v).sum() for g, v in zip(grads, vectors, strict=True)), params)

    critic = net(lib, functional, params, x, activation).sum()
    (input_grad,) = lib.autograd.grad(critic, x, create_graph=True)
    penalty = ((input_grad.reshape(x.shape[0], -1).norm(2, dim=1) - 1) ** 2).mean()
    penalty_grads = lib.autograd.grad(penalty, params, allow_unused=True)
    return [h.detach().numpy() for h in hvp], [
        None if g is None else g.detach().numpy() for g in penalty_grads
    ]


@pytest.mark.parametrize("net_name", ["mlp", "cnn"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "silu"])
@pytest.mark.parametrize("loss_name", ["cross_entropy", "mse"])
def test_hessian_vector_product_and_gradient_penalty_match_pytorch(net_name, activation, loss_name):
    ours = hvp_and_penalty(ember, net_name, activation, loss_name)
    theirs = hvp_and_penalty(torch, net_name, activation, loss_name)
    for mine, reference in zip([*ours[0], *ours[1]], [*theirs[0], *theirs[1]], strict=True):
        assert (mine is None) == (reference is None)
        if reference is not None:
            scale = max(1.0, float(np.abs(reference).max()))
            np.testing.assert_allclose(mine, reference, rtol=1e-7, atol=1e-9 * scale)


def test_backward_create_graph_then_backward_again_matches_pytorch():
    """The gradient-penalty pattern with .backward(): the penalty's gradient lands in .grad."""
    results = []
    for lib in (ember, torch):
        functional = F if lib is ember else torch.nn.functional
        params = [lib.tensor(w, dtype=lib.float64, requires_grad=True) for w in MLP_WEIGHTS]
        x = lib.tensor(INPUTS["mlp"], dtype=lib.float64, requires_grad=True)
        out = mlp(lib, functional, params, x, "tanh").sum()
        out.backward(create_graph=True)
        (x.grad**2).sum().backward()
        results.append([p.grad.detach().numpy() for p in params])
    for mine, reference in zip(*results, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-7, atol=1e-12)


def test_layers_hessian_vector_product_matches_pytorch():
    """The same through nn modules: Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Linear, Dropout(eval)."""

    def build(nn):
        return nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Dropout(0.5), nn.Linear(27, 3),
        )  # fmt: skip

    torch.manual_seed(0)
    theirs = build(torch.nn).double().train()
    ours = build(ember.nn).to(ember.float64)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    theirs[5].eval(), ours[5].eval()  # dropout off: the same function in both
    results = []
    for lib, model in ((ember, ours), (torch, theirs)):
        x = lib.tensor(INPUTS["cnn"], dtype=lib.float64)
        params = list(model.parameters())
        loss = (model(x) ** 2).mean()
        grads = lib.autograd.grad(loss, params, create_graph=True)
        directions = np.random.default_rng(2)
        vectors = [lib.tensor(directions.standard_normal(tuple(p.shape)), dtype=lib.float64) for p in params]
        hvp = lib.autograd.grad(sum((g * v).sum() for g, v in zip(grads, vectors, strict=True)), params)
        results.append([h.detach().numpy() for h in hvp])
    for mine, reference in zip(*results, strict=True):
        scale = max(1.0, float(np.abs(reference).max()))
        np.testing.assert_allclose(mine, reference, rtol=1e-7, atol=1e-9 * scale)
