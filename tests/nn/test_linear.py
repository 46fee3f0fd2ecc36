"""Linear, Identity, Flatten, Unflatten: parity with PyTorch, gradcheck, shape errors."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ember
from ember import nn
from ember.nn import functional as F
from tests.helpers import check_parity, random_array
from tests.nn.harness import check_module_gradients, check_module_parity


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7, 5), (2, 3, 5), (5,)])
def test_linear_parity_and_gradcheck(shape, bias):
    torch.manual_seed(0)
    check_module_parity(nn.Linear(5, 4, bias=bias), torch.nn.Linear(5, 4, bias=bias), [random_array(shape)])
    check_module_gradients(nn.Linear(5, 3, bias=bias), [random_array((*shape[:-1], 5), seed=1)])


@settings(max_examples=15, deadline=None)
@given(batch=st.lists(st.integers(1, 4), max_size=2), features=st.integers(1, 6), out=st.integers(1, 6))
def test_functional_linear_any_batch_shape(batch, features, out):
    x = random_array((*batch, features))
    w, b = random_array((out, features), seed=1), random_array((out,), seed=2)
    check_parity(F.linear, torch.nn.functional.linear, [x, w, b])


@pytest.mark.parametrize(("shape", "features"), [((3, 0), 0), ((0, 5), 5), ((2, 0, 5), 5)])
def test_functional_linear_of_empty_inputs(shape, features):
    """No features or no rows: as PyTorch, forward and backward (the weight's gradient is zeros, or empty)."""
    x = random_array(shape)
    w, b = random_array((4, features), seed=1), random_array((4,), seed=2)
    check_parity(F.linear, torch.nn.functional.linear, [x, w, b])


def test_linear_shape_error_names_the_layer():
    layer = nn.Linear(784, 10)
    message = r"Linear\(in_features=784, out_features=10, bias=True\): "
    message += r"expected input \(\.\.\., 784\), got \(32, 28, 28\)"
    with pytest.raises(ValueError, match=message):
        layer(ember.zeros(32, 28, 28))
    assert layer.weight.shape == (784, 10)[::-1] and layer.bias.shape == (10,)


def test_linear_dtype_argument_and_float32_default():
    assert nn.Linear(2, 3).weight.dtype == np.float32
    layer = nn.Linear(2, 3, dtype=ember.float64)
    assert layer.weight.dtype == layer.bias.dtype == np.float64


@pytest.mark.parametrize("start, end", [(1, -1), (0, -1), (1, 2), (2, 3)])
def test_flatten_parity(start, end):
    x = random_array((2, 3, 4, 5))
    check_parity(nn.Flatten(start, end), torch.nn.Flatten(start, end), [x])


def test_unflatten_parity_and_errors():
    x = random_array((2, 12, 5))
    check_parity(nn.Unflatten(1, (3, 4)), torch.nn.Unflatten(1, (3, 4)), [x])
    check_parity(nn.Unflatten(-1, (5, 1)), torch.nn.Unflatten(-1, (5, 1)), [x])
    check_parity(nn.Unflatten(1, (-1, 2)), torch.nn.Unflatten(1, (-1, 2)), [x])
    with pytest.raises(ValueError, match=r"Unflatten\(dim=1, unflattened_size=\(5, 2\)\): expected input"):
        nn.Unflatten(1, (5, 2))(ember.tensor(x))


def test_identity_passes_through_and_ignores_arguments():
    x = ember.ones(2, 2, requires_grad=True)
    assert nn.Identity(54, unused="x")(x) is x


def test_mlp_trains_like_torch_for_a_few_steps():
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    model.load_state_dict({k: v.detach().numpy().copy() for k, v in reference.state_dict().items()})
    x, y = random_array((16, 6), seed=3), np.random.default_rng(4).integers(0, 3, 16)
    for _ in range(5):
        for net, loss_fn, inputs in (
            (model, nn.CrossEntropyLoss(), (ember.tensor(x), ember.tensor(y))),
            (reference, torch.nn.CrossEntropyLoss(), (torch.from_numpy(x), torch.from_numpy(y))),
        ):
            net.zero_grad()
            loss_fn(net(inputs[0]), inputs[1]).backward()
            for p in net.parameters():
                p.data -= 0.5 * p.grad
    for key, value in reference.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[key].array, value.numpy(), rtol=1e-4, atol=1e-5)
