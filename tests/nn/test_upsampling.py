"""Upsampling: ``F.interpolate`` (nearest, bilinear with and without aligned corners; a size or a scale
factor) against PyTorch forward and backward, gradchecked; the layers ``nn.Upsample``,
``nn.UpsamplingNearest2d`` and ``nn.UpsamplingBilinear2d`` against PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember import nn
from ember.nn import functional as F
from tests.helpers import check_gradients, check_parity

INTERPOLATIONS = [
    {"size": (13, 5), "mode": "bilinear", "align_corners": False},
    {"scale_factor": 2, "mode": "bilinear", "align_corners": False},
    {"scale_factor": (0.5, 1.7), "mode": "bilinear", "align_corners": False},
    {"size": 11, "mode": "bilinear", "align_corners": True},
    {"size": (13, 5), "mode": "nearest"},
    {"scale_factor": 2.5, "mode": "nearest"},
]


@pytest.mark.parametrize("options", INTERPOLATIONS)
def test_interpolate_matches_pytorch(options):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 9)).astype(np.float32)
    check_parity(
        lambda t: F.interpolate(t, **options), lambda t: torch.nn.functional.interpolate(t, **options), [x]
    )


@pytest.mark.parametrize("options", INTERPOLATIONS[:4])
def test_interpolate_gradcheck(options):
    check_gradients(
        lambda t: F.interpolate(t, **options), [np.random.default_rng(1).standard_normal((1, 2, 5, 6))]
    )


def test_upsample_layer_and_refusals():
    layer = nn.Upsample(scale_factor=2, mode="bilinear")
    assert layer(ember.zeros(1, 1, 3, 4)).shape == (1, 1, 6, 8)
    assert "scale_factor=2" in repr(layer)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(ember.zeros(1, 1, 3, 4))
    with pytest.raises(ValueError, match="mode must be one of"):
        F.interpolate(ember.zeros(1, 1, 3, 4), size=2, mode="bicubic")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.interpolate(ember.zeros(3, 4), size=2)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (nn.UpsamplingNearest2d(scale_factor=3), torch.nn.UpsamplingNearest2d(scale_factor=3)),
        (nn.UpsamplingBilinear2d(size=(10, 4)), torch.nn.UpsamplingBilinear2d(size=(10, 4))),
        (nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(scale_factor=2)),
        (nn.Upsample(size=9, mode="bilinear"), torch.nn.Upsample(size=9, mode="bilinear")),
    ],
)
def test_upsampling_layers_match_pytorchs(ours, theirs):
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 6)).astype(np.float32)
    check_parity(ours, theirs, [x])


@pytest.mark.parametrize("options", INTERPOLATIONS)
def test_interpolate_keeps_inf_and_nan_to_the_outputs_that_read_them(options):
    """An inf or NaN in the input (or the upstream gradient) reaches only the outputs (inputs) that read it,
    with PyTorch's NaN where a zero weight meets an inf: a resize matrix would spread it along its row."""
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 9)).astype(np.float32)
    x[0, 0, 3, 4], x[1, 2, 0, 0], x[1, 1, 6, 8] = np.inf, np.nan, -np.inf
    ours, theirs = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = F.interpolate(ours, **options), torch.nn.functional.interpolate(theirs, **options)
    assert np.isfinite(expected.detach().numpy()).mean() > 0.5
    np.testing.assert_array_equal(np.isnan(out.detach().numpy()), np.isnan(expected.detach().numpy()))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    grad = np.random.default_rng(3).standard_normal(tuple(expected.shape)).astype(np.float32)
    grad[0, 0, 1, 1], grad[1, 1, -1, -1] = np.inf, np.nan
    out.backward(ember.tensor(grad))
    expected.backward(torch.tensor(grad))
    np.testing.assert_array_equal(np.isnan(ours.grad.numpy()), np.isnan(theirs.grad.numpy()))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-5)
