"""Classification metrics: loss, top-1 and top-5 accuracy, per-class accuracy and the confusion matrix.

Everything is computed from one accumulated table, the confusion matrix ``C`` (``C[t, p]`` counts the
examples of true class ``t`` predicted as ``p``): top-1 accuracy is its trace over its sum, the accuracy of
class ``t`` is ``C[t, t]`` over row ``t``. Top-k needs the scores themselves, so it is counted per batch.
The loss is averaged over examples (a batch's mean loss weighted by its size), so the last, smaller batch
counts for what it holds. ``ClassificationMetrics`` accumulates batch by batch; ``accuracy`` and
``confusion_matrix`` are the same computations on one array of scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ember.autograd import Tensor


def _array(value: Any) -> np.ndarray:
    return value.array if isinstance(value, Tensor) else np.asarray(value)


def topk_correct(scores: Any, targets: Any, k: int) -> int:
    """How many rows of ``scores`` (N x C) have their target among their ``k`` highest scores."""
    scores, targets = _array(scores), _array(targets).astype(np.int64)
    k = min(k, scores.shape[1])
    if k == 1:
        return int((scores.argmax(axis=1) == targets).sum())
    top = np.argpartition(scores, -k, axis=1)[:, -k:]
    return int((top == targets[:, None]).any(axis=1).sum())


def accuracy(scores: Any, targets: Any, topk: Sequence[int] = (1,)) -> list[float]:
    """Top-k accuracy (a fraction in [0, 1]) for each k, as in the ImageNet reference scripts."""
    n = len(_array(targets))
    return [topk_correct(scores, targets, k) / max(n, 1) for k in topk]


def confusion_matrix(predictions: Any, targets: Any, num_classes: int) -> np.ndarray:
    """``C[t, p]``: how many examples of true class ``t`` were predicted as class ``p`` (int64)."""
    predictions = _array(predictions).astype(np.int64).reshape(-1)
    targets = _array(targets).astype(np.int64).reshape(-1)
    return np.bincount(targets * num_classes + predictions, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


@dataclass
class EvaluationResult:
    """What one pass over a data set measured; ``predictions``/``targets`` are kept if asked for."""

    loss: float
    accuracy: float
    top5: float
    confusion: np.ndarray
    count: int
    predictions: np.ndarray | None = field(default=None, repr=False)
    targets: np.ndarray | None = field(default=None, repr=False)

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """Accuracy of each true class (NaN for a class with no examples)."""
        totals = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, np.diag(self.confusion) / np.maximum(totals, 1), np.nan)

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}loss": self.loss, f"{prefix}accuracy": self.accuracy, f"{prefix}top5": self.top5}

    def summary(self, classes: Sequence[str]) -> dict[str, Any]:
        """Everything measured, as plain JSON values: ``summary.json``'s ``test`` and ``ember eval --json``.
        ``classes`` names the rows of the confusion matrix."""
        per_class = map(float, self.per_class_accuracy)
        return {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "top5": self.top5,
            "count": self.count,
            "per_class_accuracy": dict(zip(classes, per_class, strict=True)),
            "confusion_matrix": self.confusion.tolist(),
        }


class ClassificationMetrics:
    """Accumulates batches of scores, targets and mean losses; ``compute()`` gives the totals."""

    def __init__(self, num_classes: int, keep_predictions: bool = False) -> None:
        self.num_classes = num_classes
        self.keep_predictions = keep_predictions
        self.reset()

    def reset(self) -> None:
        self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.loss_sum = 0.0
        self.top5_correct = 0
        self.count = 0
        self._predictions: list[np.ndarray] = []
        self._targets: list[np.ndarray] = []

    def update(self, scores: Any, targets: Any, loss: float | None = None) -> None:
        """Add a batch: ``scores`` N x C, integer ``targets`` N, and the batch's mean ``loss``."""
        scores, targets = _array(scores), _array(targets).astype(np.int64)
        n = len(targets)
        predictions = scores.argmax(axis=1)
        self.confusion += confusion_matrix(predictions, targets, self.num_classes)
        self.top5_correct += topk_correct(scores, targets, 5)
        if loss is not None:
            self.loss_sum += float(loss) * n
        self.count += n
        if self.keep_predictions:
            self._predictions.append(predictions)
            self._targets.append(targets)

    def compute(self) -> EvaluationResult:
        n = max(self.count, 1)
        kept = self.keep_predictions and self._predictions
        return EvaluationResult(
            loss=self.loss_sum / n,
            accuracy=float(np.trace(self.confusion)) / n,
            top5=self.top5_correct / n,
            confusion=self.confusion.copy(),
            count=self.count,
            predictions=np.concatenate(self._predictions) if kept else None,
            targets=np.concatenate(self._targets) if kept else None,
        )
