"""COCO mAP (boxes and masks) against pycocotools' COCOeval on the same predictions: noisy copies of the
test scenes' objects (jittered boxes, shifted and eroded masks, wrong classes, duplicates, false alarms,
misses, tied scores)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import ember
from ember.vision.datasets import Scenes
from ember.vision.detection import DetectionMetrics
from ember.vision.detection.metrics import DetectionMetricsError, match_detections
from tests.vision.conftest import MNIST_DIR

coco = pytest.importorskip("pycocotools.coco")
cocoeval = pytest.importorskip("pycocotools.cocoeval")
mask_utils = pytest.importorskip("pycocotools.mask")


def noisy_predictions(targets: list[dict], seed: int) -> list[dict]:
    """Per object: kept (85%) with a box jittered by multiples of 1/8 px (exact in binary, so box IoUs are
    the same numbers in both implementations), a shifted mask, a class right 85% of the time, sometimes a
    duplicate; plus false alarms. Scores on a grid of 0.05, so there are ties. Boxes stay well-formed
    (x2 > x1, y2 > y1): COCOeval ignores an unmatched detection of negative area (outside the area range
    "all"), which DetectionMetrics does not copy."""
    rng = np.random.default_rng(seed)
    predictions = []
    for target in targets:
        boxes, scores, labels, masks = [], [], [], []
        for box, label, mask in zip(target["boxes"], target["labels"], target["masks"], strict=True):
            for _ in range(1 + int(rng.random() < 0.2)):
                if rng.random() > 0.85:
                    continue
                moved_box = box + rng.integers(-24, 25, 4) / 8
                moved_box[2:] = np.maximum(moved_box[2:], moved_box[:2] + 1)  # well-formed: see below
                boxes.append(moved_box)
                labels.append(label if rng.random() < 0.85 else rng.integers(1, 11))
                shift = rng.integers(-1, 2, 2)
                moved = np.roll(mask, tuple(shift), axis=(0, 1)).astype(np.float32)
                moved *= rng.uniform(0.45, 1.0, moved.shape)  # probabilities: some pixels fall under 0.5
                masks.append(moved)
                scores.append(np.round(rng.uniform(0.05, 1.0) * 20) / 20)
        for _ in range(rng.integers(0, 3)):  # false alarms
            corner = rng.integers(0, 48, 2)
            box = np.concatenate([corner, corner + rng.integers(6, 16, 2)]).astype(np.float64)
            boxes.append(box)
            labels.append(rng.integers(1, 11))
            blob = np.zeros((64, 64), dtype=np.float32)
            blob[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])] = 0.9
            masks.append(blob)
            scores.append(np.round(rng.uniform(0.05, 0.6) * 20) / 20)
        predictions.append(
            {
                "boxes": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
                "scores": np.asarray(scores, dtype=np.float64),
                "labels": np.asarray(labels, dtype=np.int64),
                "masks": np.asarray(masks, dtype=np.float32).reshape(-1, 1, 64, 64),
            }
        )
    return predictions


def rle(mask: np.ndarray) -> dict:
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def pycocotools_stats(predictions: list[dict], targets: list[dict], iou_type: str) -> np.ndarray:
    """COCOeval's stats[0:3] (AP .50:.95, AP .50, AP .75; area 'all', 100 detections)."""
    annotations, results = [], []
    for image, (prediction, target) in enumerate(zip(predictions, targets, strict=True), start=1):
        for box, label, mask in zip(target["boxes"], target["labels"], target["masks"], strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,  # COCOeval takes id 0 for "unmatched"
                    "image_id": image,
                    "category_id": int(label),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": float(mask.sum()) if iou_type == "segm" else (x2 - x1) * (y2 - y1),
                    "segmentation": rle(mask),
                    "iscrowd": 0,
                }
            )
        for box, score, label, mask in zip(
            prediction["boxes"], prediction["scores"], prediction["labels"], prediction["masks"], strict=True
        ):
            result = {"image_id": image, "category_id": int(label), "score": float(score)}
            if iou_type == "bbox":
                x1, y1, x2, y2 = (float(v) for v in box)
                result["bbox"] = [x1, y1, x2 - x1, y2 - y1]
            else:
                result["segmentation"] = rle(mask[0] > 0.5)
            results.append(result)
    truth = coco.COCO()
    truth.dataset = {
        "images": [{"id": i, "height": 64, "width": 64} for i in range(1, len(targets) + 1)],
        "annotations": annotations,
        "categories": [{"id": c} for c in range(1, 11)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
        evaluation = cocoeval.COCOeval(truth, truth.loadRes(results), iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats[:3]


@pytest.fixture(scope="module", name="scenes")
def scenes_fixture() -> list[dict]:
    data = Scenes(MNIST_DIR, train=False, size=120)
    return [dict(data[i][1]) for i in range(len(data))]


@pytest.mark.parametrize("seed", [0, 1])
def test_box_and_mask_map_match_pycocotools(scenes, seed):
    predictions = noisy_predictions(scenes, seed)
    metrics = DetectionMetrics(iou_types=("bbox", "segm"))
    for start in range(0, len(scenes), 32):  # in batches, tensors and arrays mixed
        batch = slice(start, start + 32)
        as_tensors = [{k: ember.tensor(v) for k, v in p.items()} for p in predictions[batch]]
        metrics.update(as_tensors, scenes[batch])
    result = metrics.compute()
    boxes = pycocotools_stats(predictions, scenes, "bbox")
    masks = pycocotools_stats(predictions, scenes, "segm")
    ours_boxes = [result["map"], result["map_50"], result["map_75"]]
    ours_masks = [result["mask_map"], result["mask_map_50"], result["mask_map_75"]]
    np.testing.assert_allclose(ours_boxes, boxes, atol=1e-6)
    np.testing.assert_allclose(ours_masks, masks, atol=1e-6)
    assert 0.1 < boxes[0] < boxes[1] < 0.95  # a test with something to get wrong
    assert 0.05 < masks[0] < masks[1] < 0.9


def test_perfect_and_empty_predictions(scenes):
    metrics = DetectionMetrics(iou_types=("bbox", "segm"))
    perfect = [
        {**t, "scores": np.ones(len(t["labels"])), "masks": t["masks"][:, None].astype(np.float32)}
        for t in scenes[:20]
    ]
    metrics.update(perfect, scenes[:20])
    assert metrics.compute()["map"] == pytest.approx(1.0) and metrics.compute()["mask_map"] == 1.0
    metrics.reset()
    nothing = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, dtype=np.int64)}
    metrics = DetectionMetrics()
    metrics.update([nothing] * 20, scenes[:20])
    result = metrics.compute()
    assert result["map"] == 0 and set(result["map_per_class"]) == {
        int(c) for t in scenes[:20] for c in t["labels"]
    }
    assert DetectionMetrics().compute()["map"] == -1.0  # no ground truth at all: COCOeval's -1


def test_greedy_matching_takes_the_best_unmatched_box():
    iou = np.array([[0.6, 0.8], [0.9, 0.55], [0.7, 0.7]])  # detections by decreasing score
    matched = match_detections(iou, np.array([0.5, 0.75]))
    # at 0.5: d0 takes g1 (0.8), d1 takes g0 (0.9), d2 finds none left; at 0.75: d0 g1, d1 g0, d2 none
    assert matched.tolist() == [[True, True, False], [True, True, False]]
    matched = match_detections(np.array([[0.7, 0.7], [0.7, 0.7]]), np.array([0.5]))
    assert matched.tolist() == [[True, True]]


def test_bad_input():
    with pytest.raises(DetectionMetricsError, match="iou_types"):
        DetectionMetrics(iou_types=("box",))
    with pytest.raises(DetectionMetricsError, match="no 'scores'"):
        DetectionMetrics().update([{"boxes": np.zeros((0, 4)), "labels": []}], [{"boxes": [], "labels": []}])
    with pytest.raises(DetectionMetricsError, match="2 predictions for 1 targets"):
        DetectionMetrics().update([{}, {}], [{}])
