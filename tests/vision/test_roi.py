"""RoI pooling and RoI align: the issue's hand values, torchvision's C++ kernels (outputs and input gradients
from ``fixtures/roi_ops.npz``, made by ``scripts/make_detection_fixtures.py``) and gradcheck."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.vision import ops
from ember.vision.ops.boxes import BoxShapeError
from tests.helpers import assert_close, check_gradients

FIXTURES = np.load(Path(__file__).parent / "fixtures" / "roi_ops.npz")
ALIGN_SETTINGS = json.loads(str(FIXTURES["align_settings"]))
POOL_SETTINGS = json.loads(str(FIXTURES["pool_settings"]))
HAND_X = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
HAND_ROI = np.array([[0, 0, 0, 3, 3]], dtype=np.float32)


def test_hand_values_from_the_issue():
    x, roi = ember.from_numpy(HAND_X), ember.from_numpy(HAND_ROI)
    assert ops.roi_align(x, roi, 2, 1.0, -1, False).array.ravel().tolist() == [3.75, 5.25, 9.75, 11.25]
    assert ops.roi_align(x, roi, 2, 1.0, -1, True).array.ravel().tolist() == [1.5625, 3, 7.3125, 8.75]
    assert ops.roi_pool(x, roi, 2, 1.0).array.ravel().tolist() == [5, 7, 13, 15]
    as_list = [ember.from_numpy(HAND_ROI[:, 1:])]  # a list of (K_i, 4) boxes, one per image
    assert ops.roi_align(x, as_list, (2, 2)).array.ravel().tolist() == [3.75, 5.25, 9.75, 11.25]
    assert ops.roi_align(x, as_list, np.int64(2)).shape == (1, 1, 2, 2)
    assert ops.RoIPool((2, 2), 1.0)(x, as_list).array.ravel().tolist() == [5, 7, 13, 15]
    layer = ops.RoIAlign(2, spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    assert layer(x, roi).array.ravel().tolist() == [1.5625, 3, 7.3125, 8.75]
    assert "sampling_ratio=-1, aligned=True" in repr(layer)


@pytest.mark.parametrize("index", range(len(ALIGN_SETTINGS)))
def test_roi_align_matches_torchvisions_kernel(index):
    size, scale, ratio, aligned = ALIGN_SETTINGS[index]
    x = ember.tensor(FIXTURES["x"], requires_grad=True)
    rois = FIXTURES[f"align{index}_rois"]
    out = ops.roi_align(x, ember.from_numpy(rois), tuple(size), scale, ratio, aligned)
    assert out.dtype == ember.float32
    assert_close(out, FIXTURES[f"align{index}_out"], 1e-5, 1e-5, f"roi_align {ALIGN_SETTINGS[index]}")
    out.backward(ember.from_numpy(FIXTURES[f"align{index}_upstream"]))
    assert_close(x.grad, FIXTURES[f"align{index}_grad"], 1e-5, 1e-5, "roi_align's input gradient")


@pytest.mark.parametrize("index", range(len(POOL_SETTINGS)))
def test_roi_pool_matches_torchvisions_kernel(index):
    size, scale = POOL_SETTINGS[index]
    x = ember.tensor(FIXTURES["x"], requires_grad=True)
    out = ops.roi_pool(x, ember.from_numpy(FIXTURES[f"pool{index}_rois"]), tuple(size), scale)
    assert_close(out, FIXTURES[f"pool{index}_out"], 0, 0, f"roi_pool {POOL_SETTINGS[index]}")
    out.backward(ember.from_numpy(FIXTURES[f"pool{index}_upstream"]))
    assert_close(x.grad, FIXTURES[f"pool{index}_grad"], 1e-5, 1e-5, "roi_pool's input gradient")


def test_the_fixtures_cover_the_boundary_cases():
    """RoIs 12 and 13 lie wholly outside the map (zeros), 16 covers it and more: the tests above see both."""
    for name in ("align0_out", "pool0_out"):
        assert not FIXTURES[name][12:14].any() and FIXTURES[name][16].all()


def rois_for_gradcheck(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    corner = rng.uniform(-3, 9, (6, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(0.5, 8, (6, 2))], 1)
    return np.concatenate([rng.integers(0, 2, (6, 1)), boxes], 1)


@pytest.mark.parametrize(
    ("size", "scale", "ratio", "aligned"),
    [((2, 2), 1.0, -1, False), ((3, 2), 0.5, 2, True), ((2, 3), 1.0, 0, True), (4, 0.75, 1, False)],
)
def test_roi_align_gradcheck(size, scale, ratio, aligned):
    x = np.random.default_rng(1).standard_normal((2, 2, 7, 8))
    rois = ember.from_numpy(rois_for_gradcheck(2))
    check_gradients(lambda t: ops.roi_align(t, rois, size, scale, ratio, aligned), [x])


@pytest.mark.parametrize(("size", "scale"), [((2, 2), 1.0), ((3, 2), 0.5), (4, 1.0)])
def test_roi_pool_gradcheck_away_from_ties(size, scale):
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 2 * 7 * 8).reshape(2, 2, 7, 8) * 0.01  # distinct values, 0.01 apart
    rois = ember.from_numpy(rois_for_gradcheck(4))
    check_gradients(lambda t: ops.roi_pool(t, rois, size, scale), [x])


def test_roi_pool_sends_the_gradient_to_the_first_maximum():
    x = ember.tensor(np.ones((1, 1, 4, 4), dtype=np.float32), requires_grad=True)
    ops.roi_pool(x, ember.from_numpy(HAND_ROI), 1).sum().backward()
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[0, 0] = 1  # ties: the first cell in row-major order, as the kernel's strict comparison
    assert x.grad.array[0, 0].tolist() == expected.tolist()


def test_no_rois_and_bad_boxes():
    x = ember.from_numpy(HAND_X)
    assert ops.roi_align(x, ember.zeros(0, 5), 3).shape == (0, 1, 3, 3)
    assert ops.roi_pool(x, [ember.zeros(0, 4)], 3).shape == (0, 1, 3, 3)
    with pytest.raises(BoxShapeError, match=r"Tensor \(K, 5\)"):
        ops.roi_align(x, ember.zeros(2, 4), 2)
    with pytest.raises(BoxShapeError, match=r"boxes\[0\] must be \(K, 4\)"):
        ops.roi_pool(x, [ember.zeros(2, 5)], 2)
    with pytest.raises(BoxShapeError, match=r"batch indices must lie in \[0, 1\)"):
        ops.roi_align(x, ember.tensor([[1.0, 0, 0, 2, 2]]), 2)
    with pytest.raises(ValueError, match="output_size"):
        ops.roi_align(x, ember.from_numpy(HAND_ROI), 0)
