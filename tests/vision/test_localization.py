"""Classification + localization: the multitask loss and its metrics by hand, the network in the zoo, and a
smoke run on 512 scenes that must beat the trivial guesses (the training set's mean box, the commonest
class) by a margin."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
import ember.models
import ember.optim
from ember.vision.datasets import Scenes
from ember.vision.localization import LocalizationMetrics, Localizer, localization_loss
from tests.vision.conftest import MNIST_DIR


def test_the_multitask_loss_adds_the_weighted_box_term():
    scores = ember.zeros(2, 10)
    boxes = ember.tensor([[0.25, 0.25, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]])
    truth = ember.tensor([[16.0, 16.0, 32.0, 32.0], [0.0, 0.0, 64.0, 64.0]])  # the same boxes in pixels
    labels = ember.tensor([3, 4])
    assert localization_loss((scores, boxes), labels, truth).item() == pytest.approx(math.log(10), rel=1e-6)
    shifted = ember.tensor([[0.25, 0.25, 0.5, 1.5], [0.0, 0.0, 1.0, 1.0]])  # one coordinate 1.0 off
    # smooth L1 beyond beta = 1/16 is |d| - beta / 2, averaged over 8 coordinates, weighted by 10
    expected = math.log(10) + 10 * (1.0 - 1 / 32) / 8
    assert localization_loss((scores, shifted), labels, truth).item() == pytest.approx(expected, rel=1e-6)


def test_metrics_count_a_localization_only_with_the_right_class_and_iou_at_least_half():
    scores = np.eye(10, dtype=np.float32)[[1, 2, 3]]
    predicted = np.array([[0, 0, 0.5, 0.5], [0, 0, 0.5, 0.5], [0, 0, 0.5, 0.25]], dtype=np.float32)
    truth = np.array([[0, 0, 32, 32], [0, 0, 32, 32], [0, 0, 32, 32]], dtype=np.float32)
    metrics = LocalizationMetrics()
    metrics.update((scores, predicted), np.array([1, 5, 3]), truth)
    result = metrics.compute()
    assert result.accuracy == pytest.approx(2 / 3)
    assert result.mean_iou == pytest.approx((1 + 1 + 0.5) / 3)
    assert result.localized == pytest.approx(2 / 3)  # the third: right class, IoU exactly 0.5


def test_metrics_keep_each_prediction_with_its_probability_box_and_truth_when_asked():
    scores = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=np.float32))
    predicted = np.array([[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], dtype=np.float32)
    truth = np.array([[0, 0, 32, 32], [0, 0, 32, 32]], dtype=np.float32)
    metrics = LocalizationMetrics(keep_predictions=True)
    metrics.update((scores, predicted), np.array([0, 1]), truth)
    kept = metrics.compute().predictions
    assert kept is not None
    assert kept["labels"].tolist() == [0, 2] and kept["true_labels"].tolist() == [0, 1]
    np.testing.assert_allclose(kept["scores"], [0.7, 0.6], rtol=1e-5)
    np.testing.assert_allclose(kept["boxes"], predicted * 64)  # in pixels
    np.testing.assert_allclose(kept["iou"], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(kept["true_boxes"], truth)


def test_the_localizer_is_in_the_zoo():
    model = ember.models.create("localizer")
    assert isinstance(model, Localizer)
    scores, boxes = model(ember.randn(3, 1, 64, 64))
    assert scores.shape == (3, 10) and boxes.shape == (3, 4)
    assert boxes.array.min() >= 0 and boxes.array.max() <= 1


def arrays(data: Scenes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = np.array([scene.labels[0] - 1 for scene in data.scenes], dtype=np.int64)
    return data.images, labels, np.stack([scene.boxes[0] for scene in data.scenes])


def test_a_smoke_run_beats_the_mean_box_and_chance():
    images, labels, boxes = arrays(Scenes(MNIST_DIR, size=512, target_type="localization"))
    test_images, test_labels, test_boxes = arrays(
        Scenes(MNIST_DIR, train=False, size=256, target_type="localization")
    )
    ember.manual_seed(0)
    model = Localizer(widths=(8, 16, 32, 32))
    optimizer = ember.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(6):
        for index in np.array_split(rng.permutation(len(images)), len(images) // 16):
            outputs = model(ember.tensor(images[index]))
            loss = localization_loss(outputs, ember.tensor(labels[index]), ember.tensor(boxes[index]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    measured, trivial = LocalizationMetrics(), LocalizationMetrics()
    with ember.no_grad():
        measured.update(model(ember.tensor(test_images)), test_labels, test_boxes)
    mean_box = np.repeat(boxes.mean(axis=0, keepdims=True) / 64, len(test_labels), axis=0)
    commonest = np.eye(10)[np.bincount(labels).argmax()][None].repeat(len(test_labels), axis=0)
    trivial.update((commonest, mean_box), test_labels, test_boxes)
    result, baseline = measured.compute(), trivial.compute()
    assert result.mean_iou > baseline.mean_iou + 0.2  # measured: 0.54 against 0.14
    assert result.accuracy > baseline.accuracy + 0.1  # measured: 0.31 against 0.09
    assert result.localized > baseline.localized + 0.05
