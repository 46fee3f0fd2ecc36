"""Box operations: hand values, torchvision 0.28's own Python code (where it loads without its compiled
kernels: ``reference.py``), and gradcheck for each differentiable one (interpolation: tests/nn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember
from ember.vision import ops
from ember.vision.ops.boxes import BoxShapeError
from tests.helpers import assert_close, check_gradients, check_parity
from tests.vision.reference import torchvision_box_ops

REFERENCE = torchvision_box_ops()
needs_torchvision = pytest.mark.skipif(REFERENCE is None, reason="torchvision's box code is not installed")
HAND = [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]]


def random_boxes(count: int, seed: int, dtype=np.float32, spread: float = 20.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, spread, size=(count, 2))
    sides = rng.uniform(1, spread / 2, size=(count, 2))
    return np.concatenate([corner, corner + sides], axis=1).astype(dtype)


def test_nms_hand_case_from_the_issue():
    assert ops.nms(HAND, [0.9, 0.8, 0.7], 0.5).tolist() == [0, 2]


def test_nms_suppresses_strictly_above_the_threshold():
    boxes = [[0, 0, 10, 10], [0, 0, 10, 5]]  # IoU exactly 0.5
    assert ops.nms(boxes, [0.9, 0.8], 0.5).tolist() == [0, 1]
    assert ops.nms(boxes, [0.9, 0.8], 0.49).tolist() == [0]
    assert ops.nms(boxes, [0.8, 0.9], 0.49).tolist() == [1]  # the higher score wins
    assert ops.nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def brute_force_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    keep: list[int] = []
    for i in sorted(range(len(boxes)), key=lambda k: -scores[k]):
        if all(ops.box_iou(boxes[i : i + 1], boxes[j : j + 1]).item() <= threshold for j in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(3))
def test_nms_and_batched_nms_match_a_brute_force(seed):
    boxes = random_boxes(40, seed)
    scores = np.random.default_rng(seed + 10).permutation(40).astype(np.float32)
    assert ops.nms(boxes, scores, 0.3).tolist() == brute_force_nms(boxes, scores, 0.3)
    classes = np.random.default_rng(seed).integers(0, 3, 40)
    expected = []
    for c in range(3):
        members = np.flatnonzero(classes == c)
        expected += [members[k] for k in brute_force_nms(boxes[members], scores[members], 0.3)]
    expected.sort(key=lambda k: -scores[k])
    assert ops.batched_nms(boxes, scores, classes, 0.3).tolist() == expected


def test_box_ops_refuse_boxes_of_the_wrong_shape():
    with pytest.raises(BoxShapeError, match=r"\(N, 4\)"):
        ops.box_iou(ember.zeros(3, 5), HAND)
    with pytest.raises(BoxShapeError, match="one score per box"):
        ops.nms(HAND, [0.9, 0.8], 0.5)


def test_hand_values():
    iou = ops.box_iou(HAND, HAND).array
    assert iou[0, 1] == pytest.approx(81 / 119) and iou[0, 2] == 0 and iou[2, 2] == 1
    giou = ops.generalized_box_iou([[0, 0, 1, 1]], [[2, 0, 3, 1]]).item()
    assert giou == pytest.approx(0 - (3 - 2) / 3)
    assert ops.box_area(HAND).tolist() == [100, 100, 100]
    assert ops.clip_boxes_to_image([[-5, 2, 70, 80]], (30, 40)).tolist() == [[0, 2, 40, 30]]
    assert ops.remove_small_boxes([[0, 0, 5, 10], [0, 0, 4, 10], [0, 0, 10, 4.5]], 5).tolist() == [0]
    masks = np.zeros((2, 6, 8), dtype=bool)
    masks[0, 1:3, 2:7] = True
    assert ops.masks_to_boxes(masks).tolist() == [[2, 1, 6, 2], [0, 0, 0, 0]]


def test_box_coder_hand_values_and_round_trip():
    coder = ops.BoxCoder((10.0, 10.0, 5.0, 5.0))
    anchors = np.array([[0, 0, 10, 20]], dtype=np.float32)
    truth = np.array([[5, 0, 25, 20]], dtype=np.float32)  # centre +10 in x, twice as wide
    codes = coder.encode_single(truth, anchors).array
    assert codes[0] == pytest.approx([10 * 10 / 10, 0, 5 * math.log(2), 0], rel=1e-6)
    assert_close(coder.decode_single(ember.tensor(codes), anchors), truth, 1e-5, 1e-4, "round trip")
    wild = coder.decode_single(ember.tensor([[0.0, 0.0, 1e4, 1e4]]), anchors).array
    clip = math.exp(math.log(1000 / 16))  # the width grows by at most 1000/16
    assert wild[0, 2] - wild[0, 0] == pytest.approx(10 * clip, rel=1e-5)


@needs_torchvision
@pytest.mark.parametrize("name", ["box_iou", "generalized_box_iou"])
def test_pairwise_measures_match_torchvision(name):
    boxes, _ = REFERENCE
    check_parity(
        getattr(ops, name),
        getattr(boxes, name),
        [random_boxes(7, 0), random_boxes(5, 1)],
        rtol=1e-5,
        atol=1e-6,
    )


@needs_torchvision
def test_single_box_ops_match_torchvision():
    boxes, _ = REFERENCE
    data = random_boxes(9, 2, spread=40)
    check_parity(ops.box_area, boxes.box_area, [data])
    check_parity(
        lambda b: ops.clip_boxes_to_image(b, (30, 25)),
        lambda b: boxes.clip_boxes_to_image(b, (30, 25)),
        [data],
    )
    expected = boxes.remove_small_boxes(torch.from_numpy(data), 6.0)
    assert ops.remove_small_boxes(data, 6.0).tolist() == expected.tolist()
    masks = np.random.default_rng(0).random((4, 9, 11)) > 0.8
    assert ops.masks_to_boxes(masks).tolist() == boxes.masks_to_boxes(torch.from_numpy(masks)).tolist()


@needs_torchvision
def test_box_coder_matches_torchvision():
    _, detection = REFERENCE
    weights = (10.0, 10.0, 5.0, 5.0)
    ours, theirs = ops.BoxCoder(weights), detection.BoxCoder(weights)
    truth, anchors = random_boxes(6, 3), random_boxes(6, 4)
    check_parity(ours.encode_single, theirs.encode_single, [truth, anchors])
    codes = np.random.default_rng(5).standard_normal((6, 8)).astype(np.float32) * 2
    codes[0, 2] = 9.0  # beyond the clamp
    check_parity(ours.decode_single, theirs.decode_single, [codes, anchors], rtol=1e-5, atol=1e-5)
    decoded = ours.decode(ember.tensor(codes[:, :4]), [anchors[:2], anchors[2:]])
    assert decoded.shape == (6, 1, 4)


def test_box_ops_gradcheck():
    a, b = random_boxes(4, 5, np.float64), random_boxes(3, 6, np.float64)
    check_gradients(ops.box_iou, [a, b])
    check_gradients(ops.generalized_box_iou, [a, b])
    check_gradients(ops.box_area, [a])
    check_gradients(lambda x: ops.clip_boxes_to_image(x, (12.5, 13.5)), [a])
    coder = ops.BoxCoder((10.0, 10.0, 5.0, 5.0))
    check_gradients(coder.encode_single, [a, b[:1].repeat(4, axis=0)])
    check_gradients(coder.decode_single, [np.random.default_rng(0).standard_normal((4, 4)), a])


def test_interpolate_and_upsample_are_nns():
    assert ops.interpolate is ember.nn.functional.interpolate and ops.Upsample is ember.nn.Upsample
