"""Dropout and Dropout2d: inverted dropout's statistics, exact parity given the mask, eval identity."""

import numpy as np
import pytest
import torch

import ember
from ember import nn
from ember.nn import functional as F
from tests.helpers import assert_close, check_gradients, random_array


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_statistics_match_torch(p):
    x = np.ones((200, 500), np.float32)
    ours = nn.Dropout(p)(ember.tensor(x)).array
    theirs = torch.nn.Dropout(p)(torch.from_numpy(x)).numpy()
    for out in (ours, theirs):
        kept = out != 0
        assert abs(1 - kept.mean() - p) < 0.01  # fraction dropped
        assert abs(out.mean() - 1) < 0.02  # mean preserved
        np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)
    assert abs((ours != 0).mean() - (theirs != 0).mean()) < 0.015


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.7])
def test_dropout_exact_parity_given_the_mask(p):
    x = random_array((30, 40), seed=1, low=0.1)  # no zeros, so the output shows the mask
    upstream = random_array((30, 40), seed=2)
    ours_x = ember.tensor(x, requires_grad=True)
    out = F.dropout(ours_x, p, generator=ember.Generator(3))
    out.backward(upstream)
    keep = torch.from_numpy(out.array != 0)
    theirs_x = torch.from_numpy(x).requires_grad_()
    # PyTorch's own formula: noise = bernoulli(1 - p) / (1 - p); output = input * noise
    expected = theirs_x * (keep.float().div_(1 - p))
    expected.backward(torch.from_numpy(upstream))
    assert_close(out, expected, 0, 0, "dropout output")  # bit for bit
    assert_close(ours_x.grad, theirs_x.grad, 0, 0, "dropout gradient")


def test_dropout2d_drops_whole_channels_with_the_right_statistics():
    x = np.ones((100, 64, 3, 3), np.float32)
    out = nn.Dropout2d(0.25)(ember.tensor(x)).array
    per_channel = out.reshape(100, 64, -1)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # a channel is kept or dropped as a whole
    assert abs((per_channel[..., 0] == 0).mean() - 0.25) < 0.02 and abs(out.mean() - 1) < 0.03
    x = random_array((4, 6, 2, 2), low=0.1)
    layer_out = ember.tensor(x, requires_grad=True)
    y = F.dropout2d(layer_out, 0.5, generator=ember.Generator(0))
    y.sum().backward()
    keep = (y.array[:, :, :1, :1] != 0).astype(np.float32)
    np.testing.assert_array_equal(y.array, x * keep * 2)
    np.testing.assert_array_equal(layer_out.grad.array, np.broadcast_to(keep * 2, x.shape))


def test_dropout2d_three_dimensional_input_is_channelwise_like_torch():
    x = np.ones((50, 40, 6), np.float32)
    with pytest.warns(UserWarning, match="3-D input"):
        out = F.dropout2d(ember.tensor(x), 0.5).array
    assert np.all(out.min(-1) == out.max(-1))


def test_eval_mode_p_zero_and_p_one():
    x = ember.tensor(random_array((5, 5)), requires_grad=True)
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x and nn.Dropout2d(0.5).eval()(x.reshape(1, 5, 5, 1)).shape == (1, 5, 5, 1)
    assert F.dropout(x, 0.0) is x and F.dropout(x, 0.5, training=False) is x
    zeros = F.dropout(x, 1.0)
    assert not np.any(zeros.array) and not np.any(np.isnan(zeros.array))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_seeded_and_gradcheck():
    ember.manual_seed(5)
    a = nn.Dropout(0.5)(ember.ones(10, 10)).array
    ember.manual_seed(5)
    np.testing.assert_array_equal(a, nn.Dropout(0.5)(ember.ones(10, 10)).array)
    check_gradients(lambda x: F.dropout(x, 0.4, generator=ember.Generator(1)), [random_array((4, 5))])
    check_gradients(lambda x: F.dropout2d(x, 0.4, generator=ember.Generator(1)), [random_array((2, 3, 2, 2))])


def test_dropout_keeps_float32_and_inplace():
    x = ember.ones(8, 8)
    assert F.dropout(x, 0.3).dtype == np.float32
    assert F.dropout(x, 0.3, inplace=True) is x
