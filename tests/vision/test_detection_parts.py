"""Anchors and the proposal matcher against torchvision 0.29.1 (``fixtures/anchors.npz``, ``matcher.npz``,
made by ``scripts/make_detection_fixtures.py``); the sampler's counts and invariants (it is random)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.random import Generator
from ember.vision.detection import AnchorGenerator, BalancedPositiveNegativeSampler, Matcher
from ember.vision.detection.anchors import AnchorError
from ember.vision.detection.matcher import MatcherError

FIXTURES = Path(__file__).parent / "fixtures"
ANCHORS = np.load(FIXTURES / "anchors.npz")
MATCHES = np.load(FIXTURES / "matcher.npz")
ANCHOR_SETTINGS = json.loads(str(ANCHORS["settings"]))
MATCHER_SETTINGS = json.loads(str(MATCHES["settings"]))


class ImageList:
    """torchvision's ImageList, as far as the anchor generator reads it."""

    def __init__(self, tensors, image_sizes):
        self.tensors, self.image_sizes = tensors, image_sizes


@pytest.mark.parametrize("index", range(len(ANCHOR_SETTINGS)))
def test_anchors_match_torchvision(index):
    sizes, ratios, image, maps = ANCHOR_SETTINGS[index]
    generator = AnchorGenerator(tuple(map(tuple, sizes)), tuple(map(tuple, ratios)))
    images = ImageList(ember.zeros(2, 1, *image), [tuple(image)] * 2)
    features = [ember.zeros(2, 4, *size) for size in maps]
    anchors = generator(images, features)
    assert len(anchors) == 2 and anchors[0].dtype == ember.float32
    expected = ANCHORS[f"anchors{index}"]
    np.testing.assert_array_equal(anchors[0].array, expected)  # integers: exact
    np.testing.assert_array_equal(anchors[1].array, expected)
    assert generator.num_anchors_per_location() == ANCHORS[f"anchors{index}_per_location"].tolist()
    # plain shapes work as well as tensors
    plain = generator(ember.zeros(1, 1, *image), [tuple(size) for size in maps])
    np.testing.assert_array_equal(plain[0].array, expected)


def test_anchor_hand_values_and_order():
    generator = AnchorGenerator(((13, 20),), ((0.5, 1.0),))
    base = generator.cell_anchors[0]
    # ratio-major: (0.5, 13), (0.5, 20), (1, 13), (1, 20); 13 / 2 = 6.5 rounds to even, 6
    assert base[2].tolist() == [-6, -6, 6, 6] and base[3].tolist() == [-10, -10, 10, 10]
    assert base[0].tolist() == [-9, -5, 9, 5]  # w = 13 sqrt 2 = 18.38, h = 9.19, halves rounded
    anchors = generator(ember.zeros(1, 1, 8, 8), [(2, 2)])[0].array
    assert anchors.shape == (16, 4)
    assert anchors[4 + 2].tolist() == [4 - 6, 0 - 6, 4 + 6, 0 + 6]  # cell (0, 1): shifted by the stride 4
    with pytest.raises(AnchorError, match="feature maps"):
        generator(ember.zeros(1, 1, 8, 8), [(2, 2), (1, 1)])


@pytest.mark.parametrize("case", range(3))
@pytest.mark.parametrize("index", range(len(MATCHER_SETTINGS)))
def test_matcher_matches_torchvision(case, index):
    high, low, allow = MATCHER_SETTINGS[index]
    matches = Matcher(high, low, allow)(ember.from_numpy(MATCHES[f"iou{case}"]))
    assert matches.dtype == ember.int64
    np.testing.assert_array_equal(matches.array, MATCHES[f"matches{case}_{index}"])


def test_matcher_low_quality_rule_by_hand():
    iou = np.array([[0.9, 0.4, 0.2, 0.0], [0.1, 0.35, 0.25, 0.0]], dtype=np.float32)
    assert Matcher(0.7, 0.3)(iou).tolist() == [0, -2, -1, -1]
    # ground truth 1's best proposal (0.35 at 1) is already proposal 1's best match: 1 goes back to 0
    assert Matcher(0.7, 0.3, True)(iou).tolist() == [0, 0, -1, -1]
    iou[1, 2] = 0.38  # now proposal 2 is ground truth 1's best: it gets 1 back though under the thresholds
    assert Matcher(0.7, 0.39, True)(iou).tolist() == [0, -2, 1, -1]
    assert Matcher(0.5, 0.5)(iou).tolist() == [0, -1, -1, -1]
    with pytest.raises(MatcherError, match="no ground-truth boxes"):
        Matcher(0.7, 0.3)(np.zeros((0, 4)))
    with pytest.raises(MatcherError, match="low_threshold"):
        Matcher(0.3, 0.7)


def test_sampler_counts_and_invariants():
    labels = np.array([1] * 10 + [0] * 300 + [-1] * 50 + [2] * 30)
    sampler = BalancedPositiveNegativeSampler(256, 0.25, generator=Generator(0))
    pos, neg = sampler([ember.from_numpy(labels), ember.from_numpy(labels[:40])])
    assert pos[0].dtype == ember.uint8 and pos[0].shape == labels.shape
    # 64 positives wanted, 40 there: all 40, and 216 negatives fill the batch
    assert pos[0].array.sum() == 40 and neg[0].array.sum() == 216
    assert np.all(labels[pos[0].array == 1] >= 1) and np.all(labels[neg[0].array == 1] == 0)
    assert not np.any(pos[0].array & neg[0].array)
    assert pos[1].array.sum() == 10 and neg[1].array.sum() == 30  # fewer negatives than the batch needs
    many = np.array([1] * 500 + [0] * 500)
    pos, neg = sampler([many])
    assert pos[0].array.sum() == 64 and neg[0].array.sum() == 192
    again = BalancedPositiveNegativeSampler(256, 0.25, generator=Generator(0))([many])
    other = BalancedPositiveNegativeSampler(256, 0.25, generator=Generator(1))([many])
    first = BalancedPositiveNegativeSampler(256, 0.25, generator=Generator(0))([many])
    assert np.array_equal(first[0][0].array, again[0][0].array)  # seeded: repeatable
    assert not np.array_equal(first[0][0].array, other[0][0].array)


def test_sampler_draws_uniformly():
    labels = np.array([1] * 8 + [0] * 8)
    sampler = BalancedPositiveNegativeSampler(4, 0.5, generator=Generator(3))
    counts = np.zeros(16)
    for _ in range(2000):
        pos, neg = sampler([labels])
        counts += pos[0].array + neg[0].array
    assert np.allclose(counts / 2000, 0.25, atol=0.04)  # each of 8 chosen 2 at a time: 1/4
