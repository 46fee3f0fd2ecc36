"""The tasks ``ember train --task`` learns: what differs between classifying, segmenting and localizing.

A task names its models, its data sets, its loss, how a batch's accuracy is counted while training, what
is measured on the validation and test splits, and the validation measure the best checkpoint is chosen
by. Everything else (the loop, the optimizer, the schedule, checkpoints, logs) is the same for all tasks.

- ``classify`` (the default): a class per image, cross-entropy, top-1/top-5 (``ember.train.metrics``).
- ``segment``: a class per pixel (0 the background, 1 + digit) on the scenes (``ember.vision.datasets.
  Scenes``, target_type "semantic"); per-pixel cross-entropy; pixel accuracy and mean IoU from the pixel
  confusion matrix (``ember.vision.segmentation.SegmentationMetrics``); the best checkpoint has the best
  validation mIoU.
- ``localize``: the class and the box of the one object of a scene (target_type "localization"); the
  multitask loss (``ember.vision.localization.localization_loss``); top-1, mean box IoU and the share of
  scenes with the right class and a box of IoU >= 0.5, which chooses the best checkpoint.

- ``detect`` / ``instance``: every object's box and class (and mask) on the scenes (target_type
  "detection"); the detector computes its own losses from the targets in training (``forward``), their sum
  is minimized; the batches keep the targets as a list (``collate_fn``); COCO box (and mask) mAP
  (``ember.vision.detection.metrics.DetectionMetrics``), the validation mAP@0.5 choosing the best
  checkpoint.

What a finished run shows is the task's too, one method each (a new task overrides them, no command
branches on the task's name): ``report_cards``, ``class_table`` and ``report_figures`` (the run
report's numbers, table and pictures of test predictions), ``eval_lines`` (``ember eval``'s text),
``predict``, ``prediction_line`` and ``save_predictions`` (``ember predict``: what the model's outputs say
about each image, as JSON-able values, one line of text, and pictures or files of them).

``ember.vision`` is above ``ember.train``'s data and below its run: it is imported only when a task needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.errors import EmberError
from ember.registry import Registry
from ember.train.datasets import DATASETS
from ember.train.metrics import ClassificationMetrics, topk_correct


class TaskError(EmberError, ValueError):
    """A command that measures classifiers was given a run of another task."""


SHOWN = 8  # scenes per picture of predictions (the report's, ember predict's)
# Their models register (the zoo's table) when imported.
VISION_MODULES = (
    "ember.vision.segmentation",
    "ember.vision.localization",
    "ember.vision.detection.faster_rcnn",
    "ember.vision.detection.mask_rcnn",
)


def _array(value: Any) -> np.ndarray:
    return value.array if isinstance(value, Tensor) else np.asarray(value)


def percent(value: Any) -> str:
    """A share as a percentage with two decimals ("" for a missing or NaN value)."""
    return "" if value is None or value != value else f"{100 * float(value):.2f}%"


@dataclass(frozen=True)
class Figure:
    """A picture of the run report: the PNG, its heading and the note under the heading."""

    path: Path
    heading: str
    note: str


@dataclass(frozen=True)
class ClassTable:
    """The report's table of one measure per class: rows of (class, how many, measure or None)."""

    heading: str
    counted: str  # what "how many" counts ("test images", "test pixels")
    measure: str  # the measure's name ("accuracy", "IoU")
    rows: list[tuple[str, int, float | None]]
    as_percent: bool = True  # shown as a percentage (accuracy), else with four decimals (IoU)


def _format_confusion(confusion: Any, width: int = 6) -> str:
    header = " " * 8 + "".join(f"{p:>{width}}" for p in range(len(confusion)))
    rows = [f"{t:>6}  " + "".join(f"{c:>{width}}" for c in row) for t, row in enumerate(confusion.tolist())]
    return "\n".join([header, *rows])


@dataclass(frozen=True)
class Task:
    """Classification; the other tasks override what differs."""

    help: str
    models: tuple[str, ...] = ()  # (): any model of the zoo that no other task claims
    target_type: str = ""  # Scenes' target_type ("": a classification data set)
    monitor: str = "val_accuracy"  # the validation measure (higher is better) choosing the best checkpoint
    monitor_label: str = "validation accuracy"  # the monitor's name for people
    items: str = "images"  # what the data set's examples are called

    def forward(self, model: Any, inputs: Any, targets: Any) -> Any:
        """The model's outputs for a batch (a detector takes the targets too, in training)."""
        return model(inputs)

    def collate_fn(self) -> Callable[[list[Any]], Any] | None:
        """How the loaders join samples into a batch (None: ``ember.data.default_collate``)."""
        return None

    def build_loss(self, label_smoothing: float = 0.0) -> Callable[[Any, Any], Tensor]:
        from ember.nn import CrossEntropyLoss

        return CrossEntropyLoss(label_smoothing=label_smoothing)

    def metrics(self, num_classes: int, keep_predictions: bool = False) -> Any:
        """An accumulator: ``update(outputs, targets, loss)`` per batch, ``compute()`` the result."""
        return ClassificationMetrics(num_classes, keep_predictions)

    def batch_correct(self, outputs: Any, targets: Any) -> tuple[float, int]:
        """(right answers, images) of a training batch: its accuracy is their ratio."""
        labels = _array(targets)
        return topk_correct(outputs, labels, 1), len(labels)

    def validation(self, result: Any) -> dict[str, float]:
        return {"val_loss": result.loss, "val_accuracy": result.accuracy, "val_top5": result.top5}

    def summary(self, result: Any, classes: list[str]) -> dict[str, Any]:
        summary: dict[str, Any] = result.summary(classes)
        return summary

    def describe(self, result: Any) -> str:
        return (
            f"test accuracy {100 * result.accuracy:.2f}% (top-5 {100 * result.top5:.2f}%, "
            f"loss {result.loss:.4f}) on {result.count} test images"
        )

    # What a finished run shows: the report, ember eval, ember predict
    def report_cards(self, test: dict[str, Any]) -> list[tuple[str, str]]:
        """(value, label) of the report's headline numbers, from ``summary.json``'s ``test``."""
        return [
            (percent(test.get("accuracy")), "test accuracy (top-1)"),
            (percent(test.get("top5")), "test top-5 accuracy"),
            (f"{test.get('loss', float('nan')):.4f}", "test loss"),
        ]

    def class_table(self, test: dict[str, Any], classes: Sequence[str]) -> ClassTable | None:
        accuracy = list(test.get("per_class_accuracy", {}).values())
        if not accuracy:
            return None
        counts = [sum(row) for row in test.get("confusion_matrix", [])]
        rows = list(zip(classes, counts, accuracy, strict=True))
        return ClassTable("Accuracy per class", "test images", "accuracy", rows)

    def report_figures(
        self, out: Path, test: dict[str, Any], result: Any, images: Any, classes: Sequence[str]
    ) -> list[Figure]:
        """Write the task's pictures of the test split into ``out``: from ``summary.json``'s ``test``, and
        from ``result`` (the test split measured with its predictions kept, None if not at hand) and the
        test split's raw ``images``."""
        from ember.viz import report as plots

        figures = []
        confusion = result.confusion if result is not None else np.asarray(test.get("confusion_matrix", []))
        if confusion.size and classes:
            plots.plot_confusion(confusion, classes, out / "confusion_matrix.png")
            note = "Rows are true classes, columns predicted ones; colour is the row's share."
            figures.append(Figure(out / "confusion_matrix.png", "Confusion matrix", note))
        if result is not None and result.predictions is not None and images is not None and classes:
            path = out / "misclassified.png"
            shown = plots.plot_misclassified(images, result.targets, result.predictions, classes, path)
            note = f"{shown} test images the model got wrong, in test-set order, captioned true / predicted."
            figures.append(Figure(path, "Misclassified test images", note))
        return figures

    def eval_lines(self, result: Any, classes: Sequence[str], split: str) -> list[str]:
        """``ember eval``'s text for ``result`` measured on ``split``."""
        lines = [
            f"{split} split: {result.count} {self.items}",
            f"loss {result.loss:.4f}  top-1 {100 * result.accuracy:.2f}%  top-5 {100 * result.top5:.2f}%",
            "accuracy per class:",
        ]
        for index, (name, accuracy) in enumerate(zip(classes, result.per_class_accuracy, strict=True)):
            lines.append(f"  {index:>3} {name:<24} {100 * accuracy:6.2f}%")
        lines.append("confusion matrix (rows: true class, columns: predicted class):")
        lines.append(_format_confusion(result.confusion))
        return lines

    def predict(self, outputs: Any, classes: Sequence[str], top_k: int = 3) -> list[dict[str, Any]]:
        """What the model's ``outputs`` for a batch of images say, one JSON-able dict per image: here the
        ``top_k`` classes with their probabilities."""
        scores = _array(outputs).astype(np.float64)
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        k = min(top_k, len(classes))
        items = []
        for row in probabilities:
            best = np.argsort(-row, kind="stable")[:k]
            items.append(
                {"top": [{"class": classes[i], "index": int(i), "probability": float(row[i])} for i in best]}
            )
        return items

    def prediction_line(self, item: dict[str, Any]) -> str:
        """One line of text for one image's prediction (after its name)."""
        return ", ".join(f"{guess['class']} {100 * guess['probability']:.1f}%" for guess in item["top"])

    def save_predictions(
        self,
        out: Path,
        items: list[dict[str, Any]],
        images: np.ndarray,
        classes: Sequence[str],
        truth: Sequence[Any] | None = None,
    ) -> list[Path]:
        """Write pictures (and files) of the predictions ``items`` for ``images`` ((N, C, H, W) in [0, 1])
        into ``out``, against the ``truth`` (a data set's targets) if given; add their paths to the items;
        return the pictures. Classification prints its answers and writes nothing."""
        return []


class _Localization:
    """``LocalizationMetrics`` taking the (labels, boxes) targets as one argument."""

    def __init__(self, keep_predictions: bool = False) -> None:
        from ember.vision.localization import LocalizationMetrics

        self.inner = LocalizationMetrics(keep_predictions=keep_predictions)

    def update(self, outputs: Any, targets: Any, loss: float | None = None) -> None:
        self.inner.update(outputs, targets[0], targets[1], loss=loss)

    def compute(self) -> Any:
        return self.inner.compute()


IMAGE_SIDE = 64  # the scenes' side: a Localizer's boxes are in [0, 1] of it


def _box_item(kept: dict[str, np.ndarray], k: int, classes: Sequence[str]) -> dict[str, Any]:
    """Image ``k`` of ``predict_boxes``' arrays as JSON-able values."""
    label = int(kept["labels"][k])
    box = [round(float(v), 2) for v in kept["boxes"][k]]
    return {"class": classes[label], "index": label, "probability": float(kept["scores"][k]), "box": box}


def _drawn(item: dict[str, Any]) -> dict[str, Any]:
    """A prediction as ``ember.viz.scenes``' target dict (labels 1 + class)."""
    return {"boxes": [item["box"]], "labels": [item["index"] + 1], "scores": [item["probability"]]}


def _box_truths(
    targets: tuple[np.ndarray, np.ndarray], count: int, classes: Sequence[str], items: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The first ``count`` true (class, box) pairs as target dicts and captions ("true 7, IoU 0.83");
    each item gets its ``truth`` and box ``iou``."""
    from ember.vision.ops import box_iou

    labels, boxes = np.asarray(targets[0])[:count], np.asarray(targets[1], np.float32)[:count]
    predicted = np.asarray([item["box"] for item in items[:count]], np.float32).reshape(-1, 4)
    iou = np.diag(box_iou(predicted, boxes).array) if count else np.zeros(0)
    truths, titles = [], []
    for item, label, box, overlap in zip(items, labels, boxes, iou, strict=False):
        item["truth"] = {"class": classes[int(label)], "index": int(label), "box": [float(v) for v in box]}
        item["iou"] = float(overlap)
        truths.append({"boxes": box[None], "labels": [int(label) + 1]})
        titles.append(f"true {classes[int(label)]}, IoU {overlap:.2f}")
    return truths, titles


@dataclass(frozen=True)
class Segment(Task):
    def build_loss(self, label_smoothing: float = 0.0) -> Callable[[Any, Any], Tensor]:
        from ember.nn import functional as F

        return F.cross_entropy  # per pixel: (N, C, H, W) scores against (N, H, W) classes

    def metrics(self, num_classes: int, keep_predictions: bool = False) -> Any:
        from ember.vision.segmentation import SegmentationMetrics

        return SegmentationMetrics(num_classes, keep_predictions)

    def batch_correct(self, outputs: Any, targets: Any) -> tuple[float, int]:
        truth = _array(targets)
        right = _array(outputs).argmax(axis=1) == truth
        return float(right.mean(axis=(1, 2)).sum()), len(truth)  # images' pixel accuracies, summed

    def validation(self, result: Any) -> dict[str, float]:
        return {
            "val_loss": result.loss,
            "val_accuracy": result.pixel_accuracy,
            "val_miou": result.mean_iou,
            "val_miou_objects": result.mean_iou_objects,
        }

    def summary(self, result: Any, classes: list[str]) -> dict[str, Any]:
        iou = [None if np.isnan(v) else float(v) for v in result.iou]
        return {
            **result.as_dict(),
            "count": result.count,
            "iou_per_class": dict(zip(classes, iou, strict=True)),
            "confusion_matrix": result.confusion.tolist(),
        }

    def describe(self, result: Any) -> str:
        return (
            f"test mIoU {result.mean_iou:.4f} ({result.mean_iou_objects:.4f} without the background), pixel "
            f"accuracy {100 * result.pixel_accuracy:.2f}%, loss {result.loss:.4f} on {result.count} test "
            "scenes"
        )

    def report_cards(self, test: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            (
                f"{test.get('miou', float('nan')):.4f}",
                f"test mean IoU ({len(test.get('iou_per_class', {}))} classes)",
            ),
            (f"{test.get('miou_objects', float('nan')):.4f}", "test mean IoU without the background"),
            (percent(test.get("pixel_accuracy")), "test pixel accuracy"),
        ]

    def class_table(self, test: dict[str, Any], classes: Sequence[str]) -> ClassTable | None:
        iou = list(test.get("iou_per_class", {}).values())
        if not iou:
            return None
        counts = [sum(row) for row in test.get("confusion_matrix", [])]
        rows = list(zip(classes, counts, iou, strict=True))
        return ClassTable("IoU per class", "test pixels", "IoU", rows, as_percent=False)

    def report_figures(
        self, out: Path, test: dict[str, Any], result: Any, images: Any, classes: Sequence[str]
    ) -> list[Figure]:
        from ember.viz import report as plots
        from ember.viz.scenes import save_segmentation_grid

        figures = []
        if result is not None and result.predictions is not None and images is not None:
            path, count = out / "predicted_masks.png", min(SHOWN, len(images))
            titles = [f"scene {k}" for k in range(count)]
            save_segmentation_grid(
                path, images, result.targets, result.predictions, count, titles, classes[1:]
            )
            note = (
                f"The first {count} test scenes: the image, the true classes of its pixels and the "
                "predicted ones, each class in its colour."
            )
            figures.append(Figure(path, "Predicted masks next to the truth", note))
        confusion = result.confusion if result is not None else np.asarray(test.get("confusion_matrix", []))
        if confusion.size:
            plots.plot_confusion(confusion, classes, out / "confusion_matrix.png")
            note = "Test pixels: rows are true classes, columns predicted ones; colour is the row's share."
            figures.append(Figure(out / "confusion_matrix.png", "Pixel confusion matrix", note))
        return figures

    def eval_lines(self, result: Any, classes: Sequence[str], split: str) -> list[str]:
        lines = [
            f"{split} split: {result.count} {self.items}",
            f"loss {result.loss:.4f}  mIoU {result.mean_iou:.4f}  mIoU without the background "
            f"{result.mean_iou_objects:.4f}  pixel accuracy {100 * result.pixel_accuracy:.2f}%",
            "IoU per class:",
        ]
        for index, (name, iou) in enumerate(zip(classes, result.iou, strict=True)):
            lines.append(f"  {index:>3} {name:<24} {'-' if np.isnan(iou) else f'{iou:.4f}':>6}")
        lines.append("pixel confusion matrix (rows: true class, columns: predicted class):")
        lines.append(_format_confusion(result.confusion, width=8))
        return lines

    def predict(self, outputs: Any, classes: Sequence[str], top_k: int = 3) -> list[dict[str, Any]]:
        """Each image's predicted map (``mask``, an (H, W) array until ``save_predictions`` writes it) and
        the pixels of each class found (background left out)."""
        maps = _array(outputs).argmax(axis=1)
        items = []
        for predicted in maps:
            found = np.bincount(predicted.reshape(-1), minlength=len(classes))
            pixels = {classes[c]: int(found[c]) for c in np.argsort(-found, kind="stable") if c and found[c]}
            items.append({"pixels": pixels, "mask": predicted.astype(np.uint8)})
        return items

    def prediction_line(self, item: dict[str, Any]) -> str:
        found = ", ".join(f"{name} {count} px" for name, count in item["pixels"].items()) or "background only"
        return f"{found} (mask: {item['mask']})"

    def save_predictions(
        self,
        out: Path,
        items: list[dict[str, Any]],
        images: np.ndarray,
        classes: Sequence[str],
        truth: Sequence[Any] | None = None,
    ) -> list[Path]:
        """``NAME.mask.png`` per image (grey levels = class indices, 0 the background: machine-readable),
        and pictures of the image, its predicted classes (and the true ones) per 8 images."""
        from ember.viz.scenes import save_mask, save_segmentation_grid

        maps = np.stack([item["mask"] for item in items])
        for item in items:
            item["mask"] = str(save_mask(out / f"{item['name']}.mask.png", item["mask"]))
        pictures = []
        for start in range(0, len(items), SHOWN):
            part = slice(start, start + SHOWN)
            path = out / (
                f"predictions-{start // SHOWN + 1}.png" if len(items) > SHOWN else "predictions.png"
            )
            true_maps = np.stack([np.asarray(t) for t in truth[part]]) if truth is not None else None
            names = [item["name"] for item in items[part]]
            save_segmentation_grid(path, images[part], true_maps, maps[part], SHOWN, names, classes[1:])
            pictures.append(path)
        return pictures


@dataclass(frozen=True)
class Localize(Task):
    def build_loss(self, label_smoothing: float = 0.0) -> Callable[[Any, Any], Tensor]:
        from ember.vision.localization import localization_loss

        return lambda outputs, targets: localization_loss(outputs, targets[0], targets[1])

    def metrics(self, num_classes: int, keep_predictions: bool = False) -> Any:
        return _Localization(keep_predictions)

    def batch_correct(self, outputs: Any, targets: Any) -> tuple[float, int]:
        labels = _array(targets[0])
        return topk_correct(outputs[0], labels, 1), len(labels)

    def validation(self, result: Any) -> dict[str, float]:
        return {
            "val_loss": result.loss,
            "val_accuracy": result.accuracy,
            "val_box_iou": result.mean_iou,
            "val_localized": result.localized,
        }

    def summary(self, result: Any, classes: list[str]) -> dict[str, Any]:
        return {**result.as_dict(), "count": result.count}

    def describe(self, result: Any) -> str:
        return (
            f"test accuracy {100 * result.accuracy:.2f}%, mean box IoU {result.mean_iou:.4f}, localized "
            f"(right class, IoU >= 0.5) {100 * result.localized:.2f}%, loss {result.loss:.4f} on "
            f"{result.count} test scenes"
        )

    def report_cards(self, test: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            (percent(test.get("accuracy")), "test accuracy (top-1)"),
            (f"{test.get('box_iou', float('nan')):.4f}", "test mean box IoU"),
            (percent(test.get("localized")), "right class and box IoU >= 0.5"),
        ]

    def class_table(self, test: dict[str, Any], classes: Sequence[str]) -> ClassTable | None:
        return None

    def report_figures(
        self, out: Path, test: dict[str, Any], result: Any, images: Any, classes: Sequence[str]
    ) -> list[Figure]:
        from ember.viz.scenes import save_scene_grid

        kept = result.predictions if result is not None else None
        if kept is None or images is None:
            return []
        count = min(2 * SHOWN, len(images))
        items = [_box_item(kept, k, classes) for k in range(count)]
        truths, titles = _box_truths((kept["true_labels"], kept["true_boxes"]), count, classes, items)
        path = out / "predicted_boxes.png"
        save_scene_grid(
            path, list(images[:count]), [_drawn(item) for item in items], classes, 8, titles, truths
        )
        note = (
            f"The first {count} test scenes: the predicted box with its class and probability, the true box "
            "dashed white; captioned with the true class and the boxes' IoU."
        )
        return [Figure(path, "Predicted boxes against the truth", note)]

    def eval_lines(self, result: Any, classes: Sequence[str], split: str) -> list[str]:
        return [
            f"{split} split: {result.count} {self.items}",
            f"loss {result.loss:.4f}  top-1 {100 * result.accuracy:.2f}%  mean box IoU "
            f"{result.mean_iou:.4f}  right class and box IoU >= 0.5: {100 * result.localized:.2f}%",
        ]

    def predict(self, outputs: Any, classes: Sequence[str], top_k: int = 3) -> list[dict[str, Any]]:
        """Each image's class, its probability and its box (half-open x1, y1, x2, y2 in pixels)."""
        from ember.vision.localization import predict_boxes

        scores, boxes = outputs
        kept = predict_boxes(scores, boxes, IMAGE_SIDE)
        return [_box_item(kept, k, classes) for k in range(len(kept["labels"]))]

    def prediction_line(self, item: dict[str, Any]) -> str:
        box = ", ".join(f"{v:.1f}" for v in item["box"])
        line = f"{item['class']} {100 * item['probability']:.1f}% at ({box})"
        if "truth" in item:
            line += f"; truth {item['truth']['class']}, box IoU {item['iou']:.2f}"
        return line

    def save_predictions(
        self,
        out: Path,
        items: list[dict[str, Any]],
        images: np.ndarray,
        classes: Sequence[str],
        truth: Sequence[Any] | None = None,
    ) -> list[Path]:
        """Pictures of the images with their predicted boxes and classes (and the true boxes), per 16
        images; with ``truth`` ((class, box) pairs) each item gets its ``truth`` and box ``iou``."""
        from ember.viz.scenes import save_scene_grid

        truths: list[dict[str, Any]] | None = None
        titles = [item["name"] for item in items]
        if truth is not None:
            labels = np.asarray([int(label) for label, _ in truth])
            boxes = np.stack([np.asarray(box, np.float32) for _, box in truth])
            truths, titles = _box_truths((labels, boxes), len(items), classes, items)
            titles = [f"{item['name']}: {title}" for item, title in zip(items, titles, strict=True)]
        pictures, step = [], 2 * SHOWN
        for start in range(0, len(items), step):
            part = slice(start, start + step)
            path = out / (f"predictions-{start // step + 1}.png" if len(items) > step else "predictions.png")
            drawn = [_drawn(item) for item in items[part]]
            columns = min(8, len(drawn))
            save_scene_grid(
                path,
                list(images[part]),
                drawn,
                classes,
                columns,
                titles[part],
                truths[part] if truths else None,
            )
            pictures.append(path)
        return pictures


def detection_collate(batch: list[Any]) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Scenes' (image, target dict) samples as (an (N, C, H, W) tensor, the list of target dicts as
    tensors): the targets differ in length, so they are kept as a list, as torchvision's references do."""
    import ember

    images = ember.from_numpy(np.stack([np.asarray(_array(image), np.float32) for image, _ in batch]))
    targets = [{key: ember.from_numpy(np.asarray(_array(v))) for key, v in t.items()} for _, t in batch]
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
    return {key: _array(value) for key, value in entry.items()}


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
    detector in eval mode returns detections only, as torchvision's) and no training accuracy is counted.
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

    def batch_correct(self, outputs: Any, targets: Any) -> tuple[float, int]:
        return 0.0, len(targets)

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


TASKS = Registry(
    "task",
    entries={
        "classify": Task("a class per image (the default)"),
        "segment": Segment(
            "a class per pixel, on scenes (fcn_unet, segnet)",
            ("fcn_unet", "segnet"),
            "semantic",
            "val_miou",
            "validation mean IoU",
            "scenes",
        ),
        "localize": Localize(
            "the class and the box of a scene's one object (localizer)",
            ("localizer",),
            "localization",
            "val_localized",
            "validation share of right classes with box IoU >= 0.5",
            "scenes",
        ),
        "detect": Detect(
            "every object's box and class, on scenes (fasterrcnn_scenes)",
            ("fasterrcnn_scenes",),
            "detection",
            "val_map50",
            "validation box mAP@0.5",
            "scenes",
        ),
        "instance": Detect(
            "every object's box, class and mask, on scenes (maskrcnn_scenes)",
            ("maskrcnn_scenes",),
            "detection",
            "val_mask_map50",
            "validation mask mAP@0.5",
            "scenes",
            masks=True,
        ),
    },
)


def task_of_model(model: str) -> str | None:
    """The task that claims ``model`` (None: a classifier)."""
    return next((name for name, task in TASKS.items() if model in task.models), None)


def register_vision_models(model: str) -> None:
    """Import the ``ember.vision`` modules whose models a task claims, when ``model`` is one of them."""
    if task_of_model(model) is not None:
        import importlib

        for module in VISION_MODULES:
            importlib.import_module(module)


def check_task(config: Any, problems: list[tuple[str, str]]) -> None:
    """Whether the model, the data set and the other settings fit ``config.task`` (a known task)."""
    name, task = config.task, TASKS[config.task]
    owner = task_of_model(config.model)
    if task.models and config.model not in task.models:
        what = f"a {owner} model" if owner else "a classifier"
        problems.append(("model", f"{config.model} is {what}; --task {name} trains {', '.join(task.models)}"))
    elif not task.models and owner is not None:
        problems.append(
            ("model", f"{config.model} is a {owner} model, not a classifier: pass --task {owner}")
        )
    if config.dataset in DATASETS:
        info = DATASETS[config.dataset]
        scenes = [key for key, entry in DATASETS.items() if entry.source]
        if task.target_type and not info.source:
            problems.append(
                ("dataset", f"--task {name} trains on scenes ({', '.join(scenes)}), not on {config.dataset}")
            )
        elif not task.target_type and info.source:
            tasks = ", ".join(key for key, entry in TASKS.items() if entry.target_type)
            problems.append(("dataset", f"{config.dataset} is for --task {tasks}, not classify"))
    if not task.target_type:
        return
    refused = {
        "augment": [a for a in config.augment if a not in ("default", "none")],
        "finetune.init_from": config.finetune.init_from,
        "snapshots": config.snapshots,
        "lr_finder": config.lr_finder,
        "label_smoothing": config.label_smoothing,
    }
    for key, value in refused.items():
        if value:
            problems.append((key, f"--task {name} does not take it yet (classification only), got {value!r}"))


def require_classification(config: Any, command: str) -> None:
    """``TaskError`` unless ``config`` is a classification run: ``command`` measures classifiers only."""
    if config.task != "classify":
        raise TaskError(
            f"{command} takes classification runs only, not --task {config.task} (see summary.json)"
        )
