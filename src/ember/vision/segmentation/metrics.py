"""Segmentation metrics from one confusion matrix accumulated over every pixel of the test set.

``C[t, p]`` counts the pixels of true class ``t`` predicted as ``p``. Pixel accuracy is its trace over its
sum; the IoU (Jaccard index) of class ``c`` is ``C[c, c] / (row c + column c - C[c, c])``: true positives
over the union of the pixels predicted ``c`` and the pixels that are ``c``. Mean IoU averages the classes
that occur (in the truth or the predictions: a class with an empty union has no IoU and is left out, as in
the PASCAL VOC and Cityscapes evaluations), with and without the background class 0. Accumulating the
matrix over the whole set, not averaging per image, weighs every pixel the same (scikit-learn's
``jaccard_score(average='macro')`` on the flattened pixels gives the same number when every class occurs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ember.autograd import Tensor


def _array(value: Any) -> np.ndarray:
    return value.array if isinstance(value, Tensor) else np.asarray(value)


@dataclass
class SegmentationResult:
    """What one pass measured: mean loss per image batch, the pixel confusion matrix and its summaries."""

    loss: float
    confusion: np.ndarray
    count: int  # images
    predictions: np.ndarray | None = None  # (N, H, W) uint8 predicted classes, if kept
    targets: np.ndarray | None = None  # (N, H, W) uint8 true classes, if kept

    @property
    def pixel_accuracy(self) -> float:
        return float(np.trace(self.confusion)) / max(int(self.confusion.sum()), 1)

    @property
    def iou(self) -> np.ndarray:
        """IoU of each class (NaN for a class neither present nor predicted)."""
        hits = np.diag(self.confusion).astype(np.float64)
        union = self.confusion.sum(axis=0) + self.confusion.sum(axis=1) - hits
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, hits / np.maximum(union, 1), np.nan)

    @property
    def mean_iou(self) -> float:
        """Mean IoU over every class that occurs, background included."""
        return float(np.nanmean(self.iou)) if np.any(~np.isnan(self.iou)) else float("nan")

    @property
    def mean_iou_objects(self) -> float:
        """Mean IoU over the object classes (class 0, the background, left out)."""
        objects = self.iou[1:]
        return float(np.nanmean(objects)) if np.any(~np.isnan(objects)) else float("nan")

    @property
    def foreground_iou(self) -> float:
        """IoU of "any object" against the background: where things are, whatever their class."""
        inside = int(self.confusion[1:, 1:].sum())
        union = int(self.confusion.sum()) - int(self.confusion[0, 0])
        return inside / union if union else float("nan")

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}loss": self.loss,
            f"{prefix}pixel_accuracy": self.pixel_accuracy,
            f"{prefix}miou": self.mean_iou,
            f"{prefix}miou_objects": self.mean_iou_objects,
            f"{prefix}foreground_iou": self.foreground_iou,
        }


class SegmentationMetrics:
    """Accumulates (N, C, H, W) scores or (N, H, W) predicted classes against (N, H, W) true classes;
    ``keep_predictions`` keeps every predicted and true map too (uint8 up to 256 classes: 4 kB a 64 x 64
    scene), for pictures of them."""

    def __init__(self, num_classes: int, keep_predictions: bool = False) -> None:
        self.num_classes = num_classes
        self.keep_predictions = keep_predictions
        self.reset()

    def reset(self) -> None:
        self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.loss_sum = 0.0
        self.count = 0
        self.kept: list[tuple[np.ndarray, np.ndarray]] = []

    def update(self, outputs: Any, targets: Any, loss: float | None = None) -> None:
        """Add a batch: scores (N, C, H, W) (their argmax over C is the prediction) or predicted classes
        (N, H, W), the true classes (N, H, W), and the batch's mean loss."""
        outputs, targets = _array(outputs), _array(targets).astype(np.int64)
        predicted = outputs.argmax(axis=1) if outputs.ndim == targets.ndim + 1 else outputs.astype(np.int64)
        if predicted.shape != targets.shape:
            raise ValueError(
                f"SegmentationMetrics: predictions of shape {predicted.shape} "
                f"for targets of shape {targets.shape}"
            )
        k = self.num_classes
        self.confusion += np.bincount(
            targets.reshape(-1) * k + predicted.reshape(-1), minlength=k * k
        ).reshape(k, k)
        if loss is not None:
            self.loss_sum += float(loss) * len(targets)
        self.count += len(targets)
        if self.keep_predictions:
            dtype = np.uint8 if k <= 256 else np.int64
            self.kept.append((predicted.astype(dtype), targets.astype(dtype)))

    def compute(self) -> SegmentationResult:
        result = SegmentationResult(self.loss_sum / max(self.count, 1), self.confusion.copy(), self.count)
        if self.kept:
            result.predictions = np.concatenate([predicted for predicted, _ in self.kept])
            result.targets = np.concatenate([targets for _, targets in self.kept])
        return result
