"""The YOLO v1-style grid detector: its loss by hand and gradchecked, targets, decoding, the zoo entry, and
its torchvision-style calls (its smoke run through ``ember train``: tests/vision/test_detection_train.py)."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.models
import ember.optim
from ember.vision.detection import YOLO, yolo_loss
from ember.vision.detection.yolo import build_targets, decode
from tests.helpers import check_gradients

FULL = [{"boxes": np.array([[0.0, 0, 8, 8]]), "labels": np.array([1])}]


def test_the_loss_by_hand():
    """One 8 x 8 image, a 1 x 1 grid, B = 2, C = 2, every raw output 0: both boxes are (0.5, 0.5, 0.5, 0.5),
    i.e. [3, 3, 5, 5] (IoU 1/16 with the full-image truth; the first is responsible on the tie),
    confidences 0.5, class probabilities 1/2."""
    output = ember.zeros(1, 1, 1, 2 * 5 + 2)
    coord = 5 * (0 + 0 + 0.25 + 0.25)  # x, y right; sqrt w = 0.5 against 1
    responsible = (0.5 - 1 / 16) ** 2  # confidence against the IoU
    other = 0.5 * 0.5**2  # the non-responsible box: lambda_noobj * conf^2
    classes = 0.5**2 + 0.5**2
    expected = coord + responsible + other + classes
    assert yolo_loss(output, FULL, image_size=(8, 8)).item() == pytest.approx(expected, rel=1e-6)
    empty = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, dtype=np.int64)}]
    assert yolo_loss(output, empty, image_size=(8, 8)).item() == pytest.approx(2 * 0.5 * 0.25)


def test_the_responsible_box_is_the_one_of_higher_iou():
    output = np.zeros((1, 1, 1, 12), dtype=np.float32)
    output[..., 7:9] = 5.0  # box 1's sqrt w, sqrt h near 1: it overlaps the full-image truth best
    loss = yolo_loss(ember.from_numpy(output), FULL, image_size=(8, 8))
    big = 1 / (1 + np.exp(-5.0))
    iou = big**4  # a centred box of side big^2 * 8 inside the full 8 x 8
    coord = 5 * 2 * (big - 1) ** 2
    expected = coord + (0.5 - iou) ** 2 + 0.5 * 0.25 + 0.5  # box 0 (conf 0.5) now the non-responsible one
    assert loss.item() == pytest.approx(expected, rel=1e-5)


TARGETS = [
    {"boxes": np.array([[2.0, 3, 12, 14], [9, 1, 15, 7]]), "labels": np.array([1, 3])},
    {"boxes": np.array([[0.0, 8, 7, 16]]), "labels": np.array([2])},
]


def test_the_loss_gradchecks():
    """With the confidence target 1 the loss is a smooth function of every output; with the paper's IoU
    target the IoU is a constant (no gradient through it), so there the box coordinates are held fixed and
    the confidences and class scores checked."""
    output = np.random.default_rng(0).standard_normal((2, 2, 2, 2 * 5 + 3))
    check_gradients(lambda t: yolo_loss(t, TARGETS, image_size=(16, 16), iou_target=False), [output])
    free = np.zeros(output.shape)
    free[..., [4, 9, 10, 11, 12]] = 1  # the two confidences and the three class scores
    fixed = ember.from_numpy(output * (1 - free))
    mask = ember.from_numpy(free)
    check_gradients(lambda t: yolo_loss(fixed + mask * t, TARGETS, image_size=(16, 16)), [output])


def test_targets_put_each_object_in_the_cell_of_its_centre():
    targets = [{"boxes": np.array([[0.0, 0, 20, 20], [30, 40, 50, 64], [2, 2, 10, 10]]), "labels": [3, 4, 5]}]
    present, coords, classes, corners = build_targets(targets, (4, 4), 10, (64, 64))
    assert present[0].sum() == 2  # the first and third share cell (0, 0): the larger stays
    assert classes[0, 0, 0].argmax() == 2 and corners[0, 0, 0].tolist() == [0, 0, 20, 20]
    assert present[0, 3, 2] and classes[0, 3, 2].argmax() == 3  # centre (40, 52): row 3, column 2
    np.testing.assert_allclose(coords[0, 3, 2], [0.5, 0.25, np.sqrt(20 / 64), np.sqrt(24 / 64)], rtol=1e-6)


def test_decode_gives_torchvision_style_predictions():
    output = np.full((1, 2, 2, 12), -8.0, dtype=np.float32)  # confidences ~0: nothing passes
    output[0, 1, 0, 0:5] = [0.0, 0.0, 0.0, 0.0, 8.0]  # cell (row 1, col 0), box 0: sure, centred
    output[0, 1, 0, 5:10] = [0.0, 0.0, 0.0, 0.0, 6.0]  # box 1 the same box, a little less sure
    output[0, 1, 0, 10:] = [0.0, 4.0]  # class 1
    (prediction,) = decode(ember.from_numpy(output), image_size=(16, 16))
    assert prediction["labels"].tolist() == [2]  # the duplicate suppressed, label = 1 + class
    np.testing.assert_allclose(prediction["boxes"].array, [[2, 10, 6, 14]], atol=1e-4)  # side 0.25 * 16
    assert 0.9 < prediction["scores"].item() < 1


def test_yolo_is_in_the_zoo():
    model = ember.models.create("yolo")  # 11 classes: the background and the 10 digits
    assert isinstance(model, YOLO)
    assert model.grid(ember.zeros(2, 1, 64, 64)).shape == (2, 8, 8, 2 * 5 + 10)


def test_it_is_called_as_torchvision_detectors_are():
    """Training mode: the loss's four terms, whose sum is ``yolo_loss`` of the raw outputs; eval mode: the
    decoded detections; training without targets, or as many targets as images, is refused."""
    from ember.vision.detection.faster_rcnn import DetectionInputError

    ember.manual_seed(0)
    model = YOLO(num_classes=4, boxes_per_cell=2, widths=(4, 4, 4, 8))
    images = ember.from_numpy(np.random.default_rng(0).random((2, 1, 16, 16), dtype=np.float32))
    losses = model(images, TARGETS)
    assert sorted(losses) == ["loss_class", "loss_coord", "loss_noobj", "loss_object"]
    with ember.no_grad():
        whole = yolo_loss(model.grid(images), TARGETS, image_size=(16, 16)).item()
    assert sum(v.item() for v in losses.values()) == pytest.approx(whole, rel=1e-5)
    sum(losses.values()).backward()
    assert model.head.weight.grad is not None
    with pytest.raises(DetectionInputError, match="targets are needed"):
        model(images)
    with pytest.raises(DetectionInputError, match="2 images but 1 targets"):
        model(images, TARGETS[:1])
    model.eval()
    with ember.no_grad():
        found = model(images)
        expected = decode(model.grid(images), image_size=(16, 16))
    assert len(found) == 2 and sorted(found[0]) == ["boxes", "labels", "scores"]
    for ours, theirs in zip(found, expected, strict=True):
        np.testing.assert_array_equal(ours["boxes"].array, theirs["boxes"].array)
    with pytest.raises(DetectionInputError, match="counts the background"):
        YOLO(num_classes=1)
