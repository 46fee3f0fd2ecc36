"""nn.init: PyTorch's gains and fans exactly, the right distributions, generators, in-place fills."""

import math

import numpy as np
import pytest
import torch

import ember
from ember import nn
from ember.nn import init


@pytest.mark.parametrize(
    "name, param",
    [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
     ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)],
)  # fmt: skip
def test_calculate_gain_matches_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("shape", [(10, 20), (16, 3, 5, 5), (8, 4, 3), (6, 2, 3, 3, 3)])
def test_fans_match_torch_including_receptive_field(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(ember.empty(*shape)) == expected


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(ember.empty(5))


def _std_bound(tensor):
    return float(tensor.array.std()), float(np.abs(tensor.array).max())


@pytest.mark.parametrize("shape", [(256, 512), (64, 32, 3, 3)])
def test_scaled_initializers_have_the_documented_spread(shape):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(ember.empty(*shape))
    g = ember.Generator(1)
    w = ember.empty(*shape)
    cases = [
        (lambda: init.xavier_uniform_(w, gain=2.0, generator=g), 2 * math.sqrt(2 / (fan_in + fan_out)), True),
        (lambda: init.xavier_normal_(w, generator=g), math.sqrt(2 / (fan_in + fan_out)), False),
        (lambda: init.kaiming_uniform_(w, nonlinearity="relu", generator=g), math.sqrt(2 / fan_in), True),
        (lambda: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g),
         math.sqrt(2 / fan_out), False),
        (lambda: init.kaiming_uniform_(w, a=math.sqrt(5), generator=g), 1 / math.sqrt(3 * fan_in), True),
    ]  # fmt: skip
    for fill, std, uniform in cases:
        assert fill() is w and w.dtype == np.float32
        actual_std, largest = _std_bound(w)
        assert actual_std == pytest.approx(std, rel=0.03)
        if uniform:
            assert largest <= math.sqrt(3) * std * (1 + 1e-6)
            assert largest > 0.99 * math.sqrt(3) * std


def test_uniform_normal_constant_fill_in_place_and_bump_version():
    w = ember.zeros(1000, 100)
    version = w._version
    init.uniform_(w, -2.0, 3.0)
    assert w.array.min() >= -2 and w.array.max() < 3 and abs(w.array.mean() - 0.5) < 0.02
    init.normal_(w, 1.0, 0.5)
    assert abs(w.array.mean() - 1) < 0.01 and abs(w.array.std() - 0.5) < 0.01
    init.constant_(w, 0.3)
    assert np.all(w.array == np.float32(0.3))
    init.ones_(w)
    assert np.all(w.array == 1)
    init.zeros_(w)
    assert not np.any(w.array)
    assert w._version == version + 5


def test_init_on_a_parameter_records_no_graph():
    layer = nn.Linear(4, 3)
    init.normal_(layer.weight)
    assert layer.weight.is_leaf and layer.weight.requires_grad


def test_trunc_normal_stays_in_bounds_with_the_right_spread():
    w = init.trunc_normal_(ember.empty(200, 200), mean=0.0, std=1.0, a=-2.0, b=2.0)
    reference = torch.nn.init.trunc_normal_(torch.empty(200, 200), mean=0.0, std=1.0, a=-2.0, b=2.0)
    assert w.array.min() >= -2 and w.array.max() <= 2
    assert w.array.std() == pytest.approx(reference.std().item(), rel=0.02)


def test_eye_and_orthogonal():
    e = init.eye_(ember.empty(3, 5))
    np.testing.assert_array_equal(e.array, np.eye(3, 5))
    for shape in [(20, 50), (50, 20), (16, 3, 3, 3)]:
        q = init.orthogonal_(ember.empty(*shape), gain=2.0).array.reshape(shape[0], -1)
        small = q @ q.T if shape[0] <= q.shape[1] else q.T @ q
        np.testing.assert_allclose(small, 4 * np.eye(len(small)), atol=1e-5)
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(ember.empty(2, 2, 2))


def test_generators_make_draws_repeatable():
    a = init.kaiming_normal_(ember.empty(8, 8), generator=ember.Generator(7))
    b = init.kaiming_normal_(ember.empty(8, 8), generator=ember.Generator(7))
    np.testing.assert_array_equal(a.array, b.array)
    ember.manual_seed(3)
    c = nn.Linear(8, 8).weight.array.copy()
    ember.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(8, 8).weight.array, c)


def test_linear_default_init_is_pytorchs():
    layer = nn.Linear(300, 200)
    bound = 1 / math.sqrt(300)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.array).max() <= bound and np.abs(p.array).max() > 0.95 * bound
    assert layer.weight.array.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_the_fans_are_public_under_ember_s_name_and_pytorch_s():
    assert "fan_in_and_fan_out" in init.__all__
    assert init.fan_in_and_fan_out(ember.empty(8, 3, 5, 5)) == (75, 200)
    assert init._calculate_fan_in_and_fan_out is init.fan_in_and_fan_out
