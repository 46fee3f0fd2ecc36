"""``detect`` and ``instance``: every object's box and class (and mask), by a detector that computes its
own losses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.train.tasks.base import (
    SHOWN,
    ClassTable,
    Figure,
    Task,
    as_array,
)


def detection_collate(batch: list[Any]) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Scenes' (image, target dict) samples as (an (N, C, H, W) tensor, the list of target dicts as
    tensors): the targets differ in length, so they are kept as a list, as torchvision's references do."""
    import ember

    images = ember.from_numpy(np.stack([np.asarray(as_array(image), np.float32) for image, _ in batch]))
    targets = [{key: ember.from_numpy(np.asarray(as_array(v))) for key, v in t.items()} for _, t in batch]
    return images, targets


@dataclass
class DetectionResult:
    """COCO box (and mask) mAP of a split's detections (``DetectionMetrics``; -1 for a missing kind), the
    ground-truth objects per class, and (kept for the report) the first scenes' detections and targets."""

    map50: float
    map: float
    map75: float
    mask_map50: float
    mask_map: float
    mask_map75: float
    count: int
    per_class: dict[str, dict[int, float]]
    objects: dict[int, int]
    predictions: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] | None = None

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        return {
            f"{prefix}{key}": getattr(self, key)
            for key in ("map50", "map", "map75", "mask_map50", "mask_map", "mask_map75")
        }


def _numpy(entry: dict[str, Any]) -> dict[str, np.ndarray]:
    return {key: as_array(value) for key, value in entry.items()}


class _Detection:
    """``DetectionMetrics`` over the detector's eval outputs (box AP; mask AP for instance segmentation);
    with ``keep_predictions`` the first scenes' detections and targets are kept for pictures."""

    def __init__(self, masks: bool, keep_predictions: bool = False) -> None:
        from ember.vision.detection.metrics import DetectionMetrics

        self.inner = DetectionMetrics(iou_types=("bbox", "segm") if masks else ("bbox",))
        self.kept: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] | None = (
            [] if keep_predictions else None
        )

    def update(self, outputs: Any, targets: Any, loss: float | None = None) -> None:
        self.inner.update(outputs, targets)
        if self.kept is not None:
            for found, truth in zip(outputs, targets, strict=True):
                if len(self.kept) < 2 * SHOWN:
                    self.kept.append((_numpy(found), _numpy(truth)))

    def compute(self) -> DetectionResult:
        found = self.inner.compute()
        get = lambda key: float(found.get(key, -1.0))  # noqa: E731
        return DetectionResult(
            get("map_50"),
            get("map"),
            get("map_75"),
            get("mask_map_50"),
            get("mask_map"),
            get("mask_map_75"),
            self.inner.images,
            {key: found[key] for key in ("map_per_class", "mask_map_per_class") if key in found},
            dict(self.inner.truths),
            self.kept,
        )


SHOWN_SCORE = 0.5  # detections drawn and listed by ember predict and the report: score at least this


def _detection_items(found: dict[str, np.ndarray], classes: Sequence[str]) -> dict[str, Any]:
    """One image's detections scoring at least ``SHOWN_SCORE`` as JSON-able values (label = 1 + class,
    the index into ``classes``, whose 0 is the background)."""
    keep = np.flatnonzero(found["scores"] >= SHOWN_SCORE)
    detections = []
    for k in keep:
        label = int(found["labels"][k])
        box = [round(float(v), 2) for v in found["boxes"][k]]
        item = {"class": classes[label], "index": label, "score": float(found["scores"][k]), "box": box}
        if "masks" in found:
            item["pixels"] = int((found["masks"][k] > 0.5).sum())
        detections.append(item)
    return {"detections": detections}


def _drawn_detections(found: dict[str, np.ndarray]) -> dict[str, Any]:
    """The detections scoring at least ``SHOWN_SCORE`` as ``ember.viz.scenes``' target dict."""
    keep = found["scores"] >= SHOWN_SCORE
    drawn = {"boxes": found["boxes"][keep], "labels": found["labels"][keep], "scores": found["scores"][keep]}
    if "masks" in found:
        drawn["masks"] = found["masks"][keep].reshape(-1, *found["masks"].shape[-2:]) > 0.5
    return drawn


@dataclass(frozen=True)
class Detect(Task):
    """Every object's box and class (``detect``), and its mask (``instance``): the detector computes its
    own losses from the targets in training (their sum is minimized); eval outputs are measured by COCO
    mAP (``ember.vision.detection.metrics.DetectionMetrics``); no loss is measured in evaluation (a
    detector in eval mode returns detections only, as torchvision's) and no training accuracy is counted
    (the logs show the losses and, per epoch, the validation mAP@0.5 and mAP, as torchvision's reference
    scripts do). The models: the two-stage ``fasterrcnn_scenes`` and ``maskrcnn_scenes``, the grid
    detector ``yolo``, all called as torchvision's detectors are.
    The data's classes are the background (label 0) and then the objects' (label 1 + class)."""

    masks: bool = False

    def forward(self, model: Any, inputs: Any, targets: Any) -> Any:
        return model(inputs, targets) if model.training else model(inputs)

    def collate_fn(self) -> Callable[[list[Any]], Any] | None:
        return detection_collate

    def build_loss(self, label_smoothing: float = 0.0) -> Callable[[Any, Any], Tensor]:
        def detection_loss(outputs: Any, targets: Any) -> Tensor:
            import ember

            if isinstance(outputs, dict):
                return sum(outputs.values(), ember.zeros(()))
            return ember.zeros(())  # eval mode: detections, no loss

        return detection_loss

    def metrics(self, num_classes: int, keep_predictions: bool = False) -> Any:
        return _Detection(self.masks, keep_predictions)

    def batch_correct(self, outputs: Any, targets: Any) -> tuple[float | None, int]:
        return None, len(targets)  # no accuracy: the losses and the validation mAP are the measures

    def loss_terms(self, outputs: Any) -> dict[str, float]:
        return (
            {name: float(value.item()) for name, value in outputs.items()}
            if isinstance(outputs, dict)
            else {}
        )

    def validation(self, result: Any) -> dict[str, float]:
        record = {"val_map50": result.map50, "val_map": result.map}
        if self.masks:
            record.update({"val_mask_map50": result.mask_map50, "val_mask_map": result.mask_map})
        return record

    def summary(self, result: Any, classes: list[str]) -> dict[str, Any]:
        per_class = {
            key: {classes[c]: ap for c, ap in values.items()} for key, values in result.per_class.items()
        }
        objects = {classes[c]: n for c, n in sorted(result.objects.items())}
        return {**result.as_dict(), "count": result.count, "objects_per_class": objects, **per_class}

    def describe(self, result: Any) -> str:
        masks = f", mask mAP@0.5 {result.mask_map50:.4f} (mAP {result.mask_map:.4f})" if self.masks else ""
        return (
            f"test box mAP@0.5 {result.map50:.4f} (mAP@[.5:.95] {result.map:.4f}){masks} on {result.count} "
            "test scenes"
        )

    def report_cards(self, test: dict[str, Any]) -> list[tuple[str, str]]:
        cards = [
            (f"{test.get('map50', float('nan')):.4f}", "test box mAP@0.5"),
            (f"{test.get('map', float('nan')):.4f}", "test box mAP@[.5:.95]"),
        ]
        if self.masks:
            cards.append((f"{test.get('mask_map50', float('nan')):.4f}", "test mask mAP@0.5"))
        return cards

    def class_table(self, test: dict[str, Any], classes: Sequence[str]) -> ClassTable | None:
        ap = test.get("mask_map_per_class" if self.masks else "map_per_class", {})
        if not ap:
            return None
        objects = test.get("objects_per_class", {})
        rows = [(name, int(objects.get(name, 0)), ap.get(name)) for name in classes[1:]]
        what = "Mask" if self.masks else "Box"
        return ClassTable(f"{what} AP per class (IoU .50:.95)", "test objects", "AP", rows, as_percent=False)

    def report_figures(
        self, out: Path, test: dict[str, Any], result: Any, images: Any, classes: Sequence[str]
    ) -> list[Figure]:
        from ember.viz.scenes import save_scene_grid

        kept = result.predictions if result is not None else None
        if not kept or images is None:
            return []
        count = min(len(kept), len(images))
        drawn = [_drawn_detections(found) for found, _ in kept[:count]]
        truths = [{"boxes": truth["boxes"], "labels": truth["labels"]} for _, truth in kept[:count]]
        titles = [
            f"{len(d['labels'])} found, {len(t['labels'])} true" for d, t in zip(drawn, truths, strict=True)
        ]
        path = out / "predicted_detections.png"
        save_scene_grid(path, list(images[:count]), drawn, list(classes[1:]), 8, titles, truths)
        what = "boxes, masks" if self.masks else "boxes"
        note = (
            f"The first {count} test scenes: the detections scoring at least {SHOWN_SCORE} ({what}, class "
            "and score), the true boxes dashed white."
        )
        return [Figure(path, "Detections against the truth", note)]

    def eval_lines(self, result: Any, classes: Sequence[str], split: str) -> list[str]:
        lines = [
            f"{split} split: {result.count} {self.items}",
            f"box mAP@0.5 {result.map50:.4f}  mAP@0.75 {result.map75:.4f}  mAP@[.5:.95] {result.map:.4f}",
        ]
        if self.masks:
            lines.append(
                f"mask mAP@0.5 {result.mask_map50:.4f}  mAP@0.75 {result.mask_map75:.4f}  mAP@[.5:.95] "
                f"{result.mask_map:.4f}"
            )
        key = "mask_map_per_class" if self.masks else "map_per_class"
        lines.append(f"{'mask' if self.masks else 'box'} AP (IoU .50:.95) per class:")
        for label, ap in sorted(result.per_class.get(key, {}).items()):
            lines.append(f"  {classes[label]:<24} {ap:.4f} ({result.objects.get(label, 0)} objects)")
        return lines

    def predict(self, outputs: Any, classes: Sequence[str], top_k: int = 3) -> list[dict[str, Any]]:
        """Each image's detections scoring at least 0.5: class, score, box (half-open x1, y1, x2, y2
        pixels) and, for masks, the mask's pixel count."""
        return [_detection_items(_numpy(found), classes) for found in outputs]

    def prediction_line(self, item: dict[str, Any]) -> str:
        found = [
            f"{d['class']} {d['score']:.2f} at ({', '.join(f'{v:.0f}' for v in d['box'])})"
            for d in item["detections"]
        ]
        return f"{len(found)} objects" + (": " + "; ".join(found) if found else "")

    def save_predictions(
        self,
        out: Path,
        items: list[dict[str, Any]],
        images: np.ndarray,
        classes: Sequence[str],
        truth: Sequence[Any] | None = None,
    ) -> list[Path]:
        """Pictures of the images with their detections (boxes, classes, scores), per 16 images, the true
        boxes dashed white when ``truth`` (the scenes' target dicts) is given."""
        from ember.viz.scenes import save_scene_grid

        drawn = []
        for item in items:
            found = item["detections"]
            drawn.append(
                {
                    "boxes": np.asarray([d["box"] for d in found], np.float32).reshape(-1, 4),
                    "labels": np.asarray([d["index"] for d in found], np.int64),
                    "scores": np.asarray([d["score"] for d in found]),
                }
            )
        truths = [{"boxes": t["boxes"], "labels": t["labels"]} for t in truth] if truth is not None else None
        titles = [item["name"] for item in items]
        pictures, step = [], 2 * SHOWN
        for start in range(0, len(items), step):
            part = slice(start, start + step)
            path = out / (f"predictions-{start // step + 1}.png" if len(items) > step else "predictions.png")
            save_scene_grid(
                path, list(images[part]), drawn[part], list(classes[1:]), 8, titles[part],
                truths[part] if truths else None,
            )  # fmt: skip
            pictures.append(path)
        return pictures
