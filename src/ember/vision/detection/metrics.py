"""COCO-style detection metrics: mean average precision of boxes and of masks (Lin et al. 2014, the COCO
evaluation), by the rules of ``pycocotools``' ``COCOeval`` for the area range "all" and 100 detections.

Per image and category, the detections are taken by decreasing score (equal scores in the given order), at
most ``max_detections`` of them, and each, in that order, is matched greedily to the unmatched ground-truth
box of that category with the highest IoU, if that IoU is at least the threshold (equal IoUs: the later
box). A matched detection is a true positive, any other a false positive; a ground-truth box left unmatched
is a miss. Per category, all images' detections are pooled and sorted by score (stably, in the order of
the images), giving precision and recall at each rank; the precision is made monotone (each rank takes
the best precision at any higher recall) and read at the 101 recall levels 0, 0.01, ..., 1 (the first rank
reaching each level; 0 past the last recall): AP is their mean. mAP averages over the ten IoU thresholds
.50, .55, ..., .95 and over the categories that have ground truth (a category with detections only is left
out; one with ground truth but no detection counts 0). ``map_50`` and ``map_75`` use one threshold.

Box IoU is that of half-open (x1, y1, x2, y2) boxes (COCO's (x, y, w, h) with w = x2 - x1: the same
numbers), mask IoU the pixel counts of the binary masks (predicted masks, torchvision's (N, 1, H, W)
probabilities, are cut at 0.5). No crowd regions, no area ranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.errors import EmberError

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # COCOeval's iouThrs
RECALL_LEVELS = np.linspace(0.0, 1.0, 101)  # COCOeval's recThrs
IOU_TYPES = ("bbox", "segm")


class DetectionMetricsError(EmberError, ValueError):
    """Predictions and targets that do not pair up, or lack the fields the metrics need."""


def _values(x: Any) -> np.ndarray:
    return x.array if isinstance(x, Tensor) else np.asarray(x)


def box_iou_matrix(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """(N, M) IoU of (x1, y1, x2, y2) boxes in float64, zero where they do not overlap."""
    boxes1, boxes2 = boxes1.astype(np.float64), boxes2.astype(np.float64)
    widths = np.minimum(boxes1[:, None, 2], boxes2[None, :, 2]) - np.maximum(
        boxes1[:, None, 0], boxes2[None, :, 0]
    )
    heights = np.minimum(boxes1[:, None, 3], boxes2[None, :, 3]) - np.maximum(
        boxes1[:, None, 1], boxes2[None, :, 1]
    )
    inter = np.where((widths > 0) & (heights > 0), widths * heights, 0.0)
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    union = area1[:, None] + area2[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=inter > 0)


def mask_iou_matrix(masks1: np.ndarray, masks2: np.ndarray) -> np.ndarray:
    """(N, M) IoU of binary masks (N, H, W) and (M, H, W), by pixel counts."""
    pixels = int(np.prod(masks1.shape[1:]))
    flat1 = masks1.reshape(len(masks1), pixels).astype(np.float64)
    flat2 = masks2.reshape(len(masks2), pixels).astype(np.float64)
    inter = flat1 @ flat2.T  # integer counts, exact in float64
    union = flat1.sum(1)[:, None] + flat2.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_detections(iou: np.ndarray, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """(T, D) whether each detection (rows of ``iou``, by decreasing score) is matched at each threshold:
    COCOeval's greedy rule, the unmatched ground truth of highest IoU >= the threshold, the last on ties."""
    count, truths = iou.shape
    matched = np.zeros((len(thresholds), count), dtype=bool)
    taken = np.zeros((len(thresholds), truths), dtype=bool)
    limits = np.minimum(thresholds, 1 - 1e-10)[:, None]
    for d in range(count):
        if truths == 0 or iou[d].max() < limits[0, 0]:
            continue
        candidates = np.where((iou[d][None, :] >= limits) & ~taken, iou[d][None, :], -1.0)
        last_best = truths - 1 - candidates[:, ::-1].argmax(axis=1)
        hit = candidates[np.arange(len(thresholds)), last_best] >= 0
        matched[hit, d] = True
        taken[np.flatnonzero(hit), last_best[hit]] = True
    return matched


def average_precision(scores: np.ndarray, matched: np.ndarray, truths: int) -> np.ndarray:
    """(T, 101) interpolated precision at COCO's recall levels for one category, from every image's
    detections (``scores`` (D,), ``matched`` (T, D)) and the number of ground-truth boxes."""
    order = np.argsort(-scores, kind="mergesort")
    hits = matched[:, order]
    true_pos = np.cumsum(hits, axis=1, dtype=np.float64)
    false_pos = np.cumsum(~hits, axis=1, dtype=np.float64)
    recall = true_pos / truths
    precision = true_pos / (true_pos + false_pos + np.spacing(1))
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    out = np.zeros((len(matched), len(RECALL_LEVELS)))
    for t in range(len(matched)):
        ranks = np.searchsorted(recall[t], RECALL_LEVELS, side="left")
        reached = ranks < hits.shape[1]
        out[t, reached] = envelope[t, ranks[reached]]
    return out


class DetectionMetrics:
    """COCO box (and mask) mAP over a test set: ``update(predictions, targets)`` per batch, then
    ``compute()``.

    Both are torchvision-style lists with one dict per image: predictions ``boxes`` (N, 4) (x1, y1, x2, y2),
    ``scores`` (N,), ``labels`` (N,) and, for masks, ``masks`` (N, 1, H, W) or (N, H, W) (cut at 0.5);
    targets ``boxes``, ``labels`` and ``masks`` (K, H, W). ``iou_types`` is ("bbox",), ("segm",) or both.
    ``compute()`` returns ``map``, ``map_50``, ``map_75`` for boxes and ``mask_map``, ``mask_map_50``,
    ``mask_map_75`` for masks, and the AP (.50:.95) of each category with ground truth (``map_per_class``,
    ``mask_map_per_class``); a value is -1 when no category has ground truth (COCOeval's convention).
    """

    def __init__(self, iou_types: Sequence[str] = ("bbox",), max_detections: int = 100) -> None:
        unknown = [kind for kind in iou_types if kind not in IOU_TYPES]
        if unknown or not iou_types:
            raise DetectionMetricsError(
                f"DetectionMetrics: iou_types are among {IOU_TYPES}, got {tuple(iou_types)}"
            )
        self.iou_types, self.max_detections = tuple(iou_types), max_detections
        self.reset()

    def reset(self) -> None:
        # per iou type and category: lists of scores and (T, D) matches, and the ground-truth count
        self.detections: dict[str, dict[int, list[tuple[np.ndarray, np.ndarray]]]] = {
            kind: {} for kind in self.iou_types
        }
        self.truths: dict[int, int] = {}
        self.images = 0

    def update(self, predictions: Sequence[dict[str, Any]], targets: Sequence[dict[str, Any]]) -> None:
        if len(predictions) != len(targets):
            raise DetectionMetricsError(
                f"DetectionMetrics.update: {len(predictions)} predictions for {len(targets)} targets; "
                "give one dict of each per image"
            )
        for prediction, target in zip(predictions, targets, strict=True):
            self._add_image(prediction, target)
            self.images += 1

    def _field(self, entry: dict[str, Any], key: str, what: str) -> np.ndarray:
        if key not in entry:
            raise DetectionMetricsError(
                f"DetectionMetrics.update: image {self.images}: the {what} have no {key!r} "
                f"(has {sorted(entry)})"
            )
        return _values(entry[key])

    def _add_image(self, prediction: dict[str, Any], target: dict[str, Any]) -> None:
        boxes = self._field(prediction, "boxes", "predictions").reshape(-1, 4)
        scores = self._field(prediction, "scores", "predictions").reshape(-1)
        labels = self._field(prediction, "labels", "predictions").reshape(-1)
        true_boxes = self._field(target, "boxes", "targets").reshape(-1, 4)
        true_labels = self._field(target, "labels", "targets").reshape(-1)
        masks = true_masks = None
        if "segm" in self.iou_types:
            masks = self._field(prediction, "masks", "predictions")
            masks = (masks > 0.5).reshape(len(boxes), *masks.shape[-2:])
            true_masks = self._field(target, "masks", "targets").astype(bool)
        for category in np.unique(np.concatenate([labels, true_labels])).tolist():
            mine = np.flatnonzero(labels == category)
            mine = mine[np.argsort(-scores[mine], kind="mergesort")][: self.max_detections]
            theirs = np.flatnonzero(true_labels == category)
            self.truths[category] = self.truths.get(category, 0) + len(theirs)
            for kind in self.iou_types:
                if kind == "bbox":
                    iou = box_iou_matrix(boxes[mine], true_boxes[theirs])
                else:
                    assert masks is not None and true_masks is not None
                    iou = mask_iou_matrix(masks[mine], true_masks[theirs])
                entry = (scores[mine].astype(np.float64), match_detections(iou))
                self.detections[kind].setdefault(category, []).append(entry)

    def compute(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for kind in self.iou_types:
            prefix = "" if kind == "bbox" else "mask_"
            per_class = {}
            for category, truths in sorted(self.truths.items()):
                if truths == 0:
                    continue  # detections only: not a category of the ground truth
                found = self.detections[kind].get(category, [])
                scores = np.concatenate([s for s, _ in found]) if found else np.zeros(0)
                matched = (
                    np.concatenate([m for _, m in found], axis=1)
                    if found
                    else np.zeros((len(IOU_THRESHOLDS), 0), dtype=bool)
                )
                per_class[category] = average_precision(scores, matched, truths)
            if per_class:
                stacked = np.stack(list(per_class.values()))  # (K, T, 101)
                results[f"{prefix}map"] = float(stacked.mean())
                results[f"{prefix}map_50"] = float(stacked[:, 0].mean())
                results[f"{prefix}map_75"] = float(stacked[:, 5].mean())
            else:
                results.update({f"{prefix}map": -1.0, f"{prefix}map_50": -1.0, f"{prefix}map_75": -1.0})
            results[f"{prefix}map_per_class"] = {c: float(ap.mean()) for c, ap in per_class.items()}
        return results
