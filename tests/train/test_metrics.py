"""Metrics: top-k, confusion matrix, per-class accuracy, and example-weighted averages over batches."""

from __future__ import annotations

import numpy as np
import torch

from ember.train.metrics import ClassificationMetrics, accuracy, confusion_matrix, topk_correct


def test_topk_matches_torch():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((200, 10)).astype(np.float32)
    targets = rng.integers(0, 10, 200)
    for k in (1, 3, 5, 10):
        expected = (
            (torch.tensor(scores).topk(k, dim=1).indices == torch.tensor(targets)[:, None]).any(1).sum()
        )
        assert topk_correct(scores, targets, k) == int(expected)
    assert accuracy(scores, targets, (1, 5)) == [
        topk_correct(scores, targets, 1) / 200,
        topk_correct(scores, targets, 5) / 200,
    ]


def test_confusion_matrix_counts_true_rows_predicted_columns():
    predictions = np.array([0, 1, 1, 2, 2, 2])
    targets = np.array([0, 0, 1, 1, 2, 2])
    assert confusion_matrix(predictions, targets, 3).tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]


def test_accumulated_metrics_weight_batches_by_size():
    metrics = ClassificationMetrics(3, keep_predictions=True)
    one_hot = np.eye(3, dtype=np.float32)
    metrics.update(one_hot[[0, 1, 2, 0]], np.array([0, 1, 2, 1]), loss=1.0)  # 3 of 4 right
    metrics.update(one_hot[[2]], np.array([0]), loss=4.0)  # a last, smaller batch: wrong
    result = metrics.compute()
    assert result.count == 5
    assert result.loss == (4 * 1.0 + 1 * 4.0) / 5
    assert result.accuracy == 3 / 5
    assert result.top5 == 1.0  # 3 classes: every target is in the top 5
    np.testing.assert_allclose(result.per_class_accuracy, [1 / 2, 1 / 2, 1])
    assert result.predictions.tolist() == [0, 1, 2, 0, 2] and result.targets.tolist() == [0, 1, 2, 1, 0]
    assert result.confusion.sum() == 5


def test_per_class_accuracy_of_an_absent_class_is_nan():
    metrics = ClassificationMetrics(3)
    metrics.update(np.eye(3, dtype=np.float32)[[0]], np.array([0]))
    assert np.isnan(metrics.compute().per_class_accuracy[2])


def test_the_summary_is_plain_json_with_the_classes_named():
    import json

    metrics = ClassificationMetrics(3)
    metrics.update(np.eye(3, dtype=np.float32)[[0, 1, 1]], np.array([0, 1, 2]), loss=0.5)
    summary = metrics.compute().summary(["cat", "dog", "eel"])
    assert json.loads(json.dumps(summary)) == summary
    assert summary["per_class_accuracy"] == {"cat": 1.0, "dog": 1.0, "eel": 0.0}
    assert summary["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert summary["count"] == 3 and summary["accuracy"] == 2 / 3 and summary["loss"] == 0.5
