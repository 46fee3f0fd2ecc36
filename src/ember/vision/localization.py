"""Classification + localization: one object, its class and its box, as a classifier with a second head.

The lecture treats localization as regression: the network that scores the classes also outputs four
numbers, the box, and is trained on the "multitask loss", the sum of the classification loss and a
weighted regression loss. Here the box is (x1, y1, x2, y2) divided by the image side, so every coordinate
is in [0, 1] whatever the image size, and the regression loss is smooth L1 (Fast R-CNN; quadratic within
``beta`` = 1/16 of the side, 4 pixels of a 64 x 64 scene, linear beyond, so a far-off box does not swamp
the class term): ``L = CE(scores, class) + box_weight * smoothL1(box, truth / side)``, with
``box_weight`` = 10, which puts the two terms at the same order at the start (CE = log 10 = 2.3, the
box term about 0.2 for a box guessed at the image's centre).

``Localizer`` is a small VGG-style network: four stages of (conv3x3-BN-ReLU, 2x2 max-pool) to a 4 x 4 map
that is flattened (keeping where things are: a global pool would throw the position away), a shared
fully connected layer, then the class head and the box head (a sigmoid keeps the box in the image).
Metrics: top-1 accuracy, mean IoU of the predicted and true boxes, and the accuracy that counts an image
only when its class is right and its box has IoU >= 0.5 (PASCAL VOC's localization criterion).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ember import nn
from ember.autograd import Tensor
from ember.models.registry import register_model
from ember.nn import functional as F
from ember.vision.ops.boxes import box_iou

BOX_WEIGHT = 10.0
BETA = 1.0 / 16


class Localizer(nn.Module):
    """Class scores (N, num_classes) and boxes (N, 4) in [0, 1] (x1, y1, x2, y2 over the side)."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        widths: Sequence[int] = (16, 32, 64, 64),
        image_size: int = 64,
        hidden: int = 256,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in zip([in_channels, *widths], widths, strict=False):
            layers += [
                nn.Conv2d(a, b, 3, padding=1, bias=False),
                nn.BatchNorm2d(b),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*layers)
        side = image_size // 2 ** len(widths)
        self.shared = nn.Sequential(nn.Flatten(), nn.Linear(widths[-1] * side * side, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, num_classes)
        self.box = nn.Linear(hidden, 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shared = self.shared(self.features(x))
        return self.classifier(shared), self.box(shared).sigmoid()


@register_model(
    "Classification + localization CNN: a class head and a box-regression head on shared features "
    "(the lectures' multitask loss)",
    (1, 64, 64),
    min_size=64,
    max_size=79,  # four 2x2 pools leave the 4 x 4 map the fully connected layer takes for sides 64-79
)
def localizer(
    num_classes: int = 10, in_channels: int = 1, widths: Sequence[int] = (16, 32, 64, 64)
) -> Localizer:
    return Localizer(num_classes, in_channels, widths)


def localization_loss(
    outputs: tuple[Tensor, Tensor],
    labels: Tensor,
    boxes: Tensor,
    image_size: int = 64,
    box_weight: float = BOX_WEIGHT,
) -> Tensor:
    """The multitask loss: cross-entropy + ``box_weight`` * smooth L1 of the boxes over the image side."""
    scores, predicted = outputs
    truth = boxes / float(image_size)
    return F.cross_entropy(scores, labels) + box_weight * F.smooth_l1_loss(predicted, truth, beta=BETA)


def _array(value: Any) -> np.ndarray:
    return value.array if isinstance(value, Tensor) else np.asarray(value)


@dataclass
class LocalizationResult:
    loss: float
    accuracy: float  # top-1
    mean_iou: float  # of the predicted and true boxes
    localized: float  # class right and IoU >= 0.5
    count: int
    # if kept: labels, scores, boxes (pixels; predict_boxes), iou, true_labels, true_boxes, per image
    predictions: dict[str, np.ndarray] | None = None

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}loss": self.loss,
            f"{prefix}accuracy": self.accuracy,
            f"{prefix}box_iou": self.mean_iou,
            f"{prefix}localized": self.localized,
        }


class LocalizationMetrics:
    """Accumulates (scores, boxes in [0, 1]) against (labels, boxes in pixels); ``keep_predictions``
    keeps each image's predicted class, its softmax probability, its box in pixels, the box's IoU and the
    truth."""

    def __init__(
        self, image_size: int = 64, iou_threshold: float = 0.5, keep_predictions: bool = False
    ) -> None:
        self.image_size, self.iou_threshold = image_size, iou_threshold
        self.loss_sum, self.correct, self.iou_sum, self.localized, self.count = 0.0, 0, 0.0, 0, 0
        self.kept: list[dict[str, np.ndarray]] | None = [] if keep_predictions else None

    def update(self, outputs: tuple[Any, Any], labels: Any, boxes: Any, loss: float | None = None) -> None:
        scores, predicted = _array(outputs[0]), _array(outputs[1]) * self.image_size
        labels, boxes = _array(labels).astype(np.int64), _array(boxes)
        right = scores.argmax(axis=1) == labels
        iou = np.diag(box_iou(predicted, boxes).array)  # each prediction against its own truth
        self.correct += int(right.sum())
        self.iou_sum += float(iou.sum())
        self.localized += int((right & (iou >= self.iou_threshold)).sum())
        if loss is not None:
            self.loss_sum += float(loss) * len(labels)
        self.count += len(labels)
        if self.kept is not None:
            truth = {"true_labels": labels, "true_boxes": boxes.astype(np.float32)}
            self.kept.append({**predict_boxes(scores, predicted), "iou": iou.astype(np.float32), **truth})

    def compute(self) -> LocalizationResult:
        n = max(self.count, 1)
        kept = None
        if self.kept:
            kept = {key: np.concatenate([part[key] for part in self.kept]) for key in self.kept[0]}
        return LocalizationResult(
            self.loss_sum / n, self.correct / n, self.iou_sum / n, self.localized / n, self.count, kept
        )


def predict_boxes(scores: Any, boxes: Any, image_size: int | None = None) -> dict[str, np.ndarray]:
    """What a ``Localizer``'s outputs say: each image's class (``labels``, 0-based), its softmax
    probability (``scores``) and its box in pixels (``boxes``, half-open xyxy; multiplied by
    ``image_size`` when given, for boxes in [0, 1])."""
    scores, boxes = _array(scores).astype(np.float64), _array(boxes).astype(np.float32)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    labels = probabilities.argmax(axis=1)
    return {
        "labels": labels.astype(np.int64),
        "scores": probabilities[np.arange(len(labels)), labels].astype(np.float32),
        "boxes": boxes * image_size if image_size else boxes,
    }
