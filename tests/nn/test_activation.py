"""Activations: gradcheck and PyTorch parity (modules and functional forms), PReLU and Maxout parameters."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ember
from ember import nn
from ember.nn import functional as F
from tests.helpers import check_gradients, check_parity, random_array
from tests.nn.harness import check_module_gradients, check_module_parity, randomize_torch

# (Ember module, PyTorch module): the same arguments on both sides
ACTIVATIONS = [
    (nn.ReLU(), torch.nn.ReLU()),
    (nn.LeakyReLU(), torch.nn.LeakyReLU()),
    (nn.LeakyReLU(0.3), torch.nn.LeakyReLU(0.3)),
    (nn.ELU(), torch.nn.ELU()),
    (nn.ELU(alpha=0.5), torch.nn.ELU(alpha=0.5)),
    (nn.Sigmoid(), torch.nn.Sigmoid()),
    (nn.Tanh(), torch.nn.Tanh()),
    (nn.SiLU(), torch.nn.SiLU()),
    (nn.GELU(), torch.nn.GELU()),
    (nn.GELU(approximate="tanh"), torch.nn.GELU(approximate="tanh")),
    (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
    (nn.Softmax(dim=-1), torch.nn.Softmax(dim=-1)),
    (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)),
    (nn.Identity(), torch.nn.Identity()),
]
IDS = [repr(m) for m, _ in ACTIVATIONS]


@pytest.mark.parametrize("ours, theirs", ACTIVATIONS, ids=IDS)
def test_activation_parity(ours, theirs):
    x = random_array((4, 5, 3), seed=1, low=1e-3) * 3  # away from the kinks at 0
    check_parity(ours, theirs, [x])


@pytest.mark.parametrize("ours, theirs", ACTIVATIONS, ids=IDS)
def test_activation_gradcheck(ours, theirs):
    check_gradients(ours, [random_array((3, 4), seed=2, low=1e-2) * 2])


@settings(max_examples=20, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5),
                  elements=st.floats(-30, 30, width=32)))  # fmt: skip
def test_elementwise_activations_any_shape(x):
    for name in ("relu", "leaky_relu", "elu", "silu", "sigmoid", "tanh"):
        check_parity(getattr(F, name), getattr(torch.nn.functional, name), [x], atol=1e-5)


def test_functional_forms_match_torch():
    x = random_array((3, 4), seed=3, low=1e-3)
    check_parity(lambda x: F.leaky_relu(x, 0.2), lambda x: torch.nn.functional.leaky_relu(x, 0.2), [x])
    check_parity(lambda x: F.elu(x, 2.0), lambda x: torch.nn.functional.elu(x, 2.0), [x])
    check_parity(lambda x: F.softmax(x, 0), lambda x: torch.nn.functional.softmax(x, 0), [x])
    check_parity(lambda x: F.log_softmax(x, dim=1), lambda x: torch.nn.functional.log_softmax(x, dim=1), [x])
    check_parity(
        lambda x: F.gelu(x, approximate="tanh"),
        lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
        [x],
    )


def test_softmax_stable_for_large_scores_and_implicit_dim_warns():
    x = np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]], np.float32)
    check_parity(lambda x: F.softmax(x, 1), lambda x: torch.softmax(x, 1), [x])
    check_parity(lambda x: F.log_softmax(x, 1), lambda x: torch.log_softmax(x, 1), [x])
    with pytest.warns(UserWarning, match="Implicit dimension"):
        np.testing.assert_allclose(nn.Softmax()(ember.tensor(x)).array.sum(1), [1, 1])


@pytest.mark.parametrize("num_parameters, shape", [(1, (4, 3)), (3, (4, 3)), (3, (2, 3, 4, 4)), (1, (5,))])
def test_prelu_parity_and_gradcheck(num_parameters, shape):
    reference = randomize_torch(torch.nn.PReLU(num_parameters))
    layer = nn.PReLU(num_parameters)
    x = random_array(shape, seed=4, low=1e-3)
    check_module_parity(layer, reference, [x])
    check_module_gradients(layer, [x])


def test_prelu_defaults_and_errors():
    layer = nn.PReLU(3, init=0.1)
    np.testing.assert_array_equal(layer.weight.array, np.full(3, 0.1, np.float32))
    with pytest.raises(ValueError, match="3 parameters but the input has 4 channels"):
        layer(ember.zeros(2, 4))
    with pytest.raises(ValueError, match="3 parameters but the input has 1 channels"):
        layer(ember.zeros(3))  # a 1-D input has one channel, as in PyTorch


class TorchMaxout(torch.nn.Module):
    """The reference: a Linear layer with out * pieces outputs, max over consecutive groups."""

    def __init__(self, in_features, out_features, pieces):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(out_features * pieces, in_features))
        self.bias = torch.nn.Parameter(torch.randn(out_features * pieces))
        self.out_features, self.pieces = out_features, pieces

    def forward(self, x):
        scores = torch.nn.functional.linear(x, self.weight, self.bias)
        return scores.view(*x.shape[:-1], self.out_features, self.pieces).amax(-1)


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 5)])
def test_maxout_parity_and_gradcheck(shape):
    torch.manual_seed(0)
    layer, reference = nn.Maxout(5, 4, 3), TorchMaxout(5, 4, 3)
    check_module_parity(layer, reference, [random_array(shape, seed=5)])
    check_module_gradients(nn.Maxout(5, 2, 3), [random_array((*shape[:-1], 5), seed=6)])


def test_maxout_generalizes_relu():
    layer = nn.Maxout(1, 1, pieces=2)
    layer.weight.array[...] = [[1.0], [0.0]]  # max(x, 0)
    layer.bias.array[...] = 0
    x = np.linspace(-2, 2, 9, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(layer(ember.tensor(x)).array, np.maximum(x, 0))
    assert "pieces=2" in repr(layer)
    with pytest.raises(
        ValueError, match=r"Maxout\(in_features=1.*expected input \(\.\.\., 1\), got \(9, 2\)"
    ):
        layer(ember.zeros(9, 2))
