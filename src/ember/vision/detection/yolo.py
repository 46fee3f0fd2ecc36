"""A single-shot grid detector in the style of YOLO v1 (Redmon et al. 2016, "You Only Look Once").

The image is divided into an S x S grid; each cell predicts B boxes, each (x, y, sqrt w, sqrt h,
confidence), and one set of C class probabilities. (x, y) is the box centre as a fraction of its cell and
(w, h) the box size as a fraction of the image; here all five are squashed by a sigmoid and the classes by
a softmax (the paper's outputs are linear; the sigmoid keeps a young network's boxes inside their range).
The network is fully convolutional (the paper ends in fully connected layers): a small conv backbone pools
the image by 8 and a 1x1 convolution outputs the (B * 5 + C) numbers of each cell, so S = side / 8.

Training (the paper's sum-squared loss, divided by the batch size): the cell holding an object's centre is
responsible for it (if two centres fall in one cell, the larger object is kept: one class per cell), and
of its B boxes the one whose current prediction has the highest IoU with the object is the responsible
box. Then

    loss = lambda_coord * sum_resp [(x - x^)^2 + (y - y^)^2 + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
         + sum_resp (conf - IoU(pred, truth))^2
         + lambda_noobj * sum_not_resp conf^2
         + sum_object_cells sum_c (p(c) - p^(c))^2

with lambda_coord = 5 and lambda_noobj = 0.5. The non-responsible box of an object's cell is treated as the
paper's 1^noobj says: like every box of an empty cell, it gets no coordinate loss and its confidence is
pulled to 0 with weight lambda_noobj (so the B boxes specialise). The confidence target of the responsible
box is the IoU of its prediction with the truth, a constant (no gradient through it).

Inference (``decode``): each box's score is conf * max_c p(c) (the paper's class-specific confidence, for
the best class), its label 1 + that class; boxes scoring at least ``score_threshold`` are clipped to the
image, suppressed per class (``batched_nms``, IoU 0.5) and the best ``detections_per_img`` kept, as a
torchvision-style list of dicts (``boxes`` (x1, y1, x2, y2), ``scores``, ``labels``).

The model is called as torchvision's detectors are: in training mode ``model(images, targets)`` returns the
loss's four terms (``loss_coord``, ``loss_object``, ``loss_noobj``, ``loss_class``: train on their sum, which
is ``yolo_loss``), in eval mode ``model(images)`` the decoded detections; ``model.grid(images)`` gives the
raw cell outputs in either mode.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ember import nn, ops
from ember.autograd import Tensor
from ember.models.registry import register_model
from ember.vision.detection.faster_rcnn import DetectionInputError
from ember.vision.ops.boxes import batched_nms

LAMBDA_COORD = 5.0
LAMBDA_NOOBJ = 0.5
STRIDE = 8
WIDTHS = (16, 32, 64, 128)


def conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.1),  # the paper's activation
    ]


class YOLO(nn.Module):
    """The grid detector on (N, in_channels, H, W) images: ``grid`` gives the (N, H/8, W/8, B * 5 + C) raw
    cell outputs; ``forward`` the loss's terms in training (``yolo_losses``), the detections in eval mode
    (``decode``, with ``score_threshold``, ``nms_threshold`` and ``detections_per_img``).
    ``num_classes`` counts the background, as torchvision's detectors do: a cell has num_classes - 1 class
    probabilities, and a detection's label is 1 + its class."""

    def __init__(
        self,
        num_classes: int = 11,
        in_channels: int = 1,
        boxes_per_cell: int = 2,
        widths: Sequence[int] = WIDTHS,
        score_threshold: float = 0.01,
        nms_threshold: float = 0.5,
        detections_per_img: int = 100,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise DetectionInputError(
                f"yolo: num_classes counts the background: at least 2, got {num_classes}"
            )
        self.num_classes, self.boxes_per_cell = num_classes, boxes_per_cell
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self.detections_per_img = detections_per_img
        layers: list[nn.Module] = []
        sizes = [in_channels, *widths[:3]]
        for a, b in itertools.pairwise(sizes):  # three stages, each pooling by 2
            layers += [*conv_bn_relu(a, b), nn.MaxPool2d(2)]
        layers += conv_bn_relu(widths[2], widths[3]) + conv_bn_relu(widths[3], widths[3])
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(widths[3], boxes_per_cell * 5 + num_classes - 1, 1)

    def grid(self, images: Tensor) -> Tensor:
        """The raw cell outputs (N, S, S, B * 5 + C) (``activations`` reads them)."""
        return self.head(self.features(images)).permute(0, 2, 3, 1)

    def forward(self, images: Tensor, targets: Sequence[dict[str, Any]] | None = None) -> Any:
        output = self.grid(images)
        size = (int(images.shape[-2]), int(images.shape[-1]))
        if self.training:
            if targets is None:
                raise DetectionInputError(
                    "yolo: targets are needed in training mode (model.eval() to predict)"
                )
            if len(targets) != len(images):
                raise DetectionInputError(f"yolo: {len(images)} images but {len(targets)} targets")
            return yolo_losses(output, targets, self.boxes_per_cell, size)
        return decode(
            output,
            self.boxes_per_cell,
            size,
            self.score_threshold,
            self.nms_threshold,
            self.detections_per_img,
        )


@register_model(
    "YOLO v1-style single-shot grid detector: B boxes and one class distribution per cell of an S x S "
    "grid (Redmon et al. 2016)",
    (1, 64, 64),
    min_size=8,
)
def yolo(
    num_classes: int = 11,
    in_channels: int = 1,
    boxes_per_cell: int = 2,
    widths: Sequence[int] = WIDTHS,
    **options: Any,
) -> YOLO:
    return YOLO(num_classes, in_channels, boxes_per_cell, widths, **options)


def activations(output: Tensor, boxes_per_cell: int) -> tuple[Tensor, Tensor, Tensor]:
    """Raw (N, S, S, B * 5 + C) outputs to boxes (N, S, S, B, 4) (x, y, sqrt w, sqrt h in [0, 1]),
    confidences (N, S, S, B) and class probabilities (N, S, S, C)."""
    n, rows, cols, _ = output.shape
    split = boxes_per_cell * 5
    boxes = output[..., :split].reshape(n, rows, cols, boxes_per_cell, 5).sigmoid()
    return boxes[..., :4], boxes[..., 4], ops.softmax(output[..., split:], dim=-1)


def to_corners(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(..., S, S, B, 4) cell-relative (x, y, sqrt w, sqrt h) to (..., S, S, B, 4) pixel (x1, y1, x2, y2)."""
    rows, cols = boxes.shape[-4], boxes.shape[-3]
    height, width = image_size
    col = np.arange(cols)[None, :, None]
    row = np.arange(rows)[:, None, None]
    cx = (col + boxes[..., 0]) * (width / cols)
    cy = (row + boxes[..., 1]) * (height / rows)
    w, h = boxes[..., 2] ** 2 * width, boxes[..., 3] ** 2 * height
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise IoU of (..., 4) boxes."""
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (
        b[..., 3] - b[..., 1]
    )
    return inter / np.maximum(union - inter, 1e-9)


def build_targets(
    targets: Sequence[dict[str, Any]], grid: tuple[int, int], num_classes: int, image_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: whether an object is there (N, S, S), its (x, y, sqrt w, sqrt h) target (N, S, S, 4), its
    class one-hot (N, S, S, C) and its pixel box (N, S, S, 4); the larger object wins a shared cell."""
    rows, cols = grid
    height, width = image_size
    count = len(targets)
    present = np.zeros((count, rows, cols), dtype=bool)
    coords = np.zeros((count, rows, cols, 4), dtype=np.float32)
    classes = np.zeros((count, rows, cols, num_classes), dtype=np.float32)
    corners = np.zeros((count, rows, cols, 4), dtype=np.float32)
    for n, target in enumerate(targets):
        boxes = np.asarray(target["boxes"].array if isinstance(target["boxes"], Tensor) else target["boxes"])
        labels = np.asarray(
            target["labels"].array if isinstance(target["labels"], Tensor) else target["labels"]
        )
        boxes = boxes.reshape(-1, 4).astype(np.float64)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        for k in np.argsort(areas, kind="stable"):  # larger objects written last win a shared cell
            x1, y1, x2, y2 = boxes[k]
            cx, cy = (x1 + x2) / 2 * cols / width, (y1 + y2) / 2 * rows / height
            col, row = min(int(cx), cols - 1), min(int(cy), rows - 1)
            present[n, row, col] = True
            coords[n, row, col] = (
                cx - col,
                cy - row,
                np.sqrt((x2 - x1) / width),
                np.sqrt((y2 - y1) / height),
            )
            classes[n, row, col] = 0
            classes[n, row, col, int(labels[k]) - 1] = 1
            corners[n, row, col] = boxes[k]
    return present, coords, classes, corners


def yolo_loss(
    output: Tensor,
    targets: Sequence[dict[str, Any]],
    boxes_per_cell: int = 2,
    image_size: tuple[int, int] = (64, 64),
    lambda_coord: float = LAMBDA_COORD,
    lambda_noobj: float = LAMBDA_NOOBJ,
    iou_target: bool = True,
) -> Tensor:
    """YOLO v1's sum-squared loss over the batch, divided by the batch size (see the module's docstring):
    the sum of ``yolo_losses``' terms."""
    terms = yolo_losses(output, targets, boxes_per_cell, image_size, lambda_coord, lambda_noobj, iou_target)
    return terms["loss_coord"] + terms["loss_object"] + terms["loss_noobj"] + terms["loss_class"]


def yolo_losses(
    output: Tensor,
    targets: Sequence[dict[str, Any]],
    boxes_per_cell: int = 2,
    image_size: tuple[int, int] = (64, 64),
    lambda_coord: float = LAMBDA_COORD,
    lambda_noobj: float = LAMBDA_NOOBJ,
    iou_target: bool = True,
) -> dict[str, Tensor]:
    """The loss's four terms, each weighted and divided by the batch size: ``loss_coord`` (lambda_coord x
    the responsible boxes' coordinates), ``loss_object`` (their confidences against the IoU), ``loss_noobj``
    (lambda_noobj x the other boxes' confidences) and ``loss_class`` (the object cells' class
    probabilities). ``output`` the raw (N, S, S, B * 5 + C) cell outputs; ``targets`` torchvision-style
    dicts with ``boxes`` (K, 4) in pixels and ``labels`` (K,) = 1 + class. ``iou_target=False`` trains the
    responsible box's confidence towards 1 instead of its IoU (as many later implementations do)."""
    n, rows, cols, channels = output.shape
    num_classes = channels - boxes_per_cell * 5
    boxes, confidence, probabilities = activations(output, boxes_per_cell)
    present, coords, classes, truth = build_targets(targets, (rows, cols), num_classes, image_size)
    predicted = to_corners(boxes.array.astype(np.float64), image_size)  # (N, S, S, B, 4), no gradient
    overlap = _iou(predicted, truth[:, :, :, None, :])  # (N, S, S, B)
    best = overlap.argmax(axis=-1)
    responsible = (np.arange(boxes_per_cell) == best[..., None]) & present[..., None]
    weight = responsible.astype(np.float32)
    coord_error = ((boxes - Tensor(coords[:, :, :, None, :])) ** 2).sum(dim=-1)
    coord_term = (coord_error * Tensor(weight)).sum()
    goal = overlap if iou_target else np.ones_like(overlap)
    object_term = ((confidence - Tensor(goal.astype(np.float32))) ** 2 * Tensor(weight)).sum()
    empty_term = (confidence**2 * Tensor(1.0 - weight)).sum()
    class_error = ((probabilities - Tensor(classes)) ** 2).sum(dim=-1)
    class_term = (class_error * Tensor(present.astype(np.float32))).sum()
    scale = 1.0 / float(n)
    return {
        "loss_coord": coord_term * (lambda_coord * scale),
        "loss_object": object_term * scale,
        "loss_noobj": empty_term * (lambda_noobj * scale),
        "loss_class": class_term * scale,
    }


def decode(
    output: Tensor,
    boxes_per_cell: int = 2,
    image_size: tuple[int, int] = (64, 64),
    score_threshold: float = 0.01,
    nms_threshold: float = 0.5,
    detections_per_img: int = 100,
) -> list[dict[str, Tensor]]:
    """Raw outputs to torchvision-style predictions, one dict per image: ``boxes`` (x1, y1, x2, y2),
    ``scores`` (conf * best class probability) and ``labels`` (1 + class), after a score threshold,
    per-class NMS and the top ``detections_per_img``."""
    boxes, confidence, probabilities = (t.array for t in activations(output, boxes_per_cell))
    corners = to_corners(boxes.astype(np.float64), image_size)
    height, width = image_size
    corners[..., 0::2] = np.clip(corners[..., 0::2], 0, width)
    corners[..., 1::2] = np.clip(corners[..., 1::2], 0, height)
    best_class = probabilities.argmax(axis=-1)  # (N, S, S)
    scores = confidence * probabilities.max(axis=-1)[..., None]  # (N, S, S, B)
    labels = np.broadcast_to(best_class[..., None] + 1, scores.shape)
    results = []
    for n in range(len(scores)):
        flat_boxes = corners[n].reshape(-1, 4).astype(np.float32)
        flat_scores, flat_labels = scores[n].reshape(-1), labels[n].reshape(-1)
        keep = np.flatnonzero(flat_scores >= score_threshold)
        sides = flat_boxes[keep, 2:] - flat_boxes[keep, :2]
        keep = keep[(sides > 0).all(axis=1)]
        chosen = batched_nms(flat_boxes[keep], flat_scores[keep], flat_labels[keep], nms_threshold).array
        chosen = keep[chosen[:detections_per_img]]
        results.append(
            {
                "boxes": Tensor(flat_boxes[chosen]),
                "scores": Tensor(flat_scores[chosen].astype(np.float32)),
                "labels": Tensor(flat_labels[chosen].astype(np.int64)),
            }
        )
    return results
