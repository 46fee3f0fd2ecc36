"""Box operations on (x1, y1, x2, y2) boxes, torchvision's ``torchvision.ops.boxes`` with its semantics.

The measures (``box_area``, ``box_iou``, ``generalized_box_iou``, ``clip_boxes_to_image``) are written with
Ember's differentiable operations, so a loss built on them (a GIoU loss, Rezatofighi et al. 2019) has
gradients. ``nms`` is the greedy non-maximum suppression of the detection lectures: take the highest-scoring
box, drop every remaining box whose IoU with it exceeds the threshold (strictly), repeat. The selections
(``nms``, ``batched_nms``, ``remove_small_boxes``) return int64 index tensors and have no gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.errors import EmberError
from ember.ops import clamp, maximum, minimum, stack


class BoxShapeError(EmberError, ValueError):
    """Boxes that are not (N, 4), or scores and labels that do not have one entry per box."""


def as_boxes(boxes: Any, name: str = "boxes") -> Tensor:
    """``boxes`` as a float tensor of shape (N, 4) (a NumPy array or list is converted)."""
    tensor = (
        boxes if isinstance(boxes, Tensor) else Tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    )
    if tensor.ndim != 2 or tensor.shape[1] != 4:
        raise BoxShapeError(
            f"{name}: expected boxes of shape (N, 4) as (x1, y1, x2, y2), got {tuple(tensor.shape)}"
        )
    return tensor


def _values(x: Any) -> np.ndarray:
    return x.array if isinstance(x, Tensor) else np.asarray(x)


def _indices(indices: np.ndarray) -> Tensor:
    return Tensor(np.asarray(indices, dtype=np.int64))


def box_area(boxes: Any) -> Tensor:
    """Area (x2 - x1) * (y2 - y1) of each of the (N, 4) boxes."""
    boxes = as_boxes(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    area1, area2 = box_area(boxes1), box_area(boxes2)
    top_left = maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    sides = clamp(bottom_right - top_left, min=0)
    inter = sides[:, :, 0] * sides[:, :, 1]
    return inter, area1[:, None] + area2[None, :] - inter


def box_iou(boxes1: Any, boxes2: Any) -> Tensor:
    """The (N, M) matrix of intersection over union (Jaccard index) of every pair of boxes."""
    inter, union = _inter_union(as_boxes(boxes1, "boxes1"), as_boxes(boxes2, "boxes2"))
    return inter / union


def generalized_box_iou(boxes1: Any, boxes2: Any) -> Tensor:
    """(N, M) generalized IoU: IoU - (|C| - |union|) / |C|, C the smallest box enclosing both (in [-1, 1])."""
    boxes1, boxes2 = as_boxes(boxes1, "boxes1"), as_boxes(boxes2, "boxes2")
    inter, union = _inter_union(boxes1, boxes2)
    top_left = minimum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    sides = clamp(bottom_right - top_left, min=0)
    enclosing = sides[:, :, 0] * sides[:, :, 1]
    return inter / union - (enclosing - union) / enclosing


def clip_boxes_to_image(boxes: Any, size: tuple[int, int]) -> Tensor:
    """Boxes (..., 4) clamped to an image of ``size`` = (height, width): x to [0, width], y to [0, height]."""
    boxes = boxes if isinstance(boxes, Tensor) else Tensor(np.asarray(boxes, dtype=np.float32))
    height, width = size
    xs = clamp(boxes[..., 0::2], min=0, max=width)
    ys = clamp(boxes[..., 1::2], min=0, max=height)
    return stack((xs, ys), dim=boxes.ndim).reshape(boxes.shape)


def remove_small_boxes(boxes: Any, min_size: float) -> Tensor:
    """Indices of the boxes whose width and height are both at least ``min_size``."""
    values = _values(boxes)
    sides = values[..., 2:4] - values[..., 0:2]
    return _indices(np.flatnonzero((sides[..., 0] >= min_size) & (sides[..., 1] >= min_size)))


def _check_scores(boxes: np.ndarray, scores: np.ndarray, name: str) -> None:
    if scores.shape != (len(boxes),):
        raise BoxShapeError(f"{name}: expected one score per box ({len(boxes)}), got shape {scores.shape}")


def nms(boxes: Any, scores: Any, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, by decreasing score.

    A box is dropped when its IoU with a higher-scoring kept box is greater than ``iou_threshold``
    (ties in score keep the earlier box first).
    """
    values = _values(as_boxes(boxes))
    score_values = _values(scores).reshape(-1)
    _check_scores(values, score_values, "nms")
    order = np.argsort(-score_values.astype(np.float64), kind="stable")
    x1, y1, x2, y2 = (np.ascontiguousarray(c) for c in values[order].astype(np.float64).T)
    area = (x2 - x1) * (y2 - y1)
    remaining = np.arange(len(order))  # positions in score order not suppressed yet
    keep = []
    with np.errstate(invalid="ignore", divide="ignore"):
        while len(remaining):  # keep the best remaining box; drop those it overlaps (box_iou's formula)
            best, rest = remaining[0], remaining[1:]
            keep.append(order[best])
            width = np.maximum(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0)
            height = np.maximum(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0)
            inter = width * height
            remaining = rest[~(inter / (area[best] + area[rest] - inter) > iou_threshold)]
    return _indices(np.array(keep, dtype=np.int64))


def batched_nms(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Tensor:
    """``nms`` within each category of ``idxs`` (boxes of different categories never suppress each other);
    the kept indices by decreasing score."""
    values = _values(as_boxes(boxes))
    score_values = _values(scores).reshape(-1)
    categories = _values(idxs).reshape(-1)
    _check_scores(values, score_values, "batched_nms")
    _check_scores(values, categories, "batched_nms (idxs)")
    kept = np.zeros(len(values), dtype=bool)
    for category in np.unique(categories):
        members = np.flatnonzero(categories == category)
        kept[members[nms(values[members], score_values[members], iou_threshold).array]] = True
    survivors = np.flatnonzero(kept)
    return _indices(survivors[np.argsort(-score_values[survivors].astype(np.float64), kind="stable")])


def masks_to_boxes(masks: Any) -> Tensor:
    """(N, H, W) masks to the (N, 4) boxes of their nonzero pixels, as torchvision does: (x_min, y_min,
    x_max, y_max) with the last row and column inside (an empty mask gives zeros)."""
    values = _values(masks)
    boxes = np.zeros((len(values), 4), dtype=np.float32)
    for index, mask in enumerate(values):
        ys, xs = np.nonzero(mask)
        if len(xs):
            boxes[index] = (xs.min(), ys.min(), xs.max(), ys.max())
    return Tensor(boxes)
