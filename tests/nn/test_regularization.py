"""Regularization terms: values, gradients, which parameters are chosen, equivalence with weight decay."""

import numpy as np
import pytest
import torch

import ember
from ember import nn
from ember.nn import regularization as R
from tests.helpers import check_gradients, random_array


def small_model():
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_default_selection_is_the_weights_not_biases_or_batch_norm():
    model = small_model()
    chosen = R.select_parameters(model)
    assert chosen == [model[0].weight, model[3].weight]
    assert R.select_parameters(model, "*.bias") == [model[0].bias, model[1].bias, model[3].bias]
    assert R.select_parameters(model, lambda name, p: name.startswith("3.")) == [
        model[3].weight,
        model[3].bias,
    ]
    explicit = [model[0].bias]
    assert R.select_parameters(explicit) == explicit
    assert R.select_parameters(model.named_parameters(), "0.*") == [model[0].weight, model[0].bias]


def test_values_match_the_definitions():
    model = small_model()
    w1, w2 = model[0].weight.array.astype(np.float64), model[3].weight.array.astype(np.float64)
    squares = (w1**2).sum() + (w2**2).sum()
    absolutes = np.abs(w1).sum() + np.abs(w2).sum()
    np.testing.assert_allclose(R.l2(model, 0.1).item(), 0.1 * squares, rtol=1e-6)
    np.testing.assert_allclose(R.l1(model, 0.1).item(), 0.1 * absolutes, rtol=1e-6)
    np.testing.assert_allclose(
        R.elastic_net(model, 0.1, beta=0.3).item(), 0.1 * (0.3 * squares + absolutes), rtol=1e-6
    )
    np.testing.assert_allclose(R.L2(model, 0.1)().item(), R.l2(model, 0.1).item(), rtol=1e-7)
    np.testing.assert_allclose(R.L1(model, 0.1)().item(), R.l1(model, 0.1).item(), rtol=1e-7)
    np.testing.assert_allclose(
        R.ElasticNet(model, 0.1, 0.3)().item(), R.elastic_net(model, 0.1, 0.3).item(), rtol=1e-7
    )
    assert R.l2(model, 0.1).dtype == np.float32


def test_gradcheck_of_each_penalty():
    a, b = random_array((3, 4), seed=1, low=0.05), random_array((2, 2, 2), seed=2, low=0.05)
    check_gradients(lambda a, b: R.l2([a, b], 0.3), [a, b])
    check_gradients(lambda a, b: R.l1([a, b], 0.3), [a, b])
    check_gradients(lambda a, b: R.elastic_net([a, b], 0.3, beta=0.7), [a, b])


def test_l2_penalty_is_sgd_weight_decay_of_twice_lambda():
    model = small_model()
    reference = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2)
    )
    reference.load_state_dict({k: torch.from_numpy(v.array.copy()) for k, v in model.state_dict().items()})
    lam, lr = 0.05, 0.1
    x, y = random_array((8, 3), seed=3), np.arange(8) % 2
    loss = nn.functional.cross_entropy(model(ember.tensor(x)), ember.tensor(y)) + R.l2(model, lam)
    loss.backward()
    for p in model.parameters():
        p.data -= lr * p.grad
    decay = [p for n, p in reference.named_parameters() if p.ndim > 1]
    rest = [p for n, p in reference.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": 2 * lam}, {"params": rest}], lr=lr)
    torch.nn.functional.cross_entropy(reference(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    optimizer.step()
    for key, value in reference.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[key].array, value.numpy(), rtol=1e-5, atol=1e-6)


def test_regularizer_skips_frozen_parameters_and_checks_lambda():
    model = small_model()
    model[0].requires_grad_(False)
    assert R.L2(model, 1.0).parameters() == [model[3].weight]
    assert repr(R.ElasticNet(model, 0.5, 0.2)) == "ElasticNet(lam=0.5, beta=0.2)"
    with pytest.raises(ValueError, match="non-negative"):
        R.L1(model, -1.0)
