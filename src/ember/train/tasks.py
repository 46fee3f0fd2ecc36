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

``ember.vision`` is above ``ember.train``'s data and below its run: it is imported only when a task needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.errors import EmberError
from ember.registry import Registry
from ember.train.datasets import DATASETS
from ember.train.metrics import ClassificationMetrics, topk_correct


class TaskError(EmberError, ValueError):
    """A command that measures classifiers was given a run of another task."""


# Their models register (the zoo's table) when imported.
VISION_MODULES = (
    "ember.vision.segmentation",
    "ember.vision.localization",
    "ember.vision.detection.faster_rcnn",
    "ember.vision.detection.mask_rcnn",
)


def _array(value: Any) -> np.ndarray:
    return value.array if isinstance(value, Tensor) else np.asarray(value)


@dataclass(frozen=True)
class Task:
    """Classification; the other tasks override what differs."""

    help: str
    models: tuple[str, ...] = ()  # (): any model of the zoo that no other task claims
    target_type: str = ""  # Scenes' target_type ("": a classification data set)
    monitor: str = "val_accuracy"  # the validation measure (higher is better) choosing the best checkpoint

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


class _Localization:
    """``LocalizationMetrics`` taking the (labels, boxes) targets as one argument."""

    def __init__(self) -> None:
        from ember.vision.localization import LocalizationMetrics

        self.inner = LocalizationMetrics()

    def update(self, outputs: Any, targets: Any, loss: float | None = None) -> None:
        self.inner.update(outputs, targets[0], targets[1], loss=loss)

    def compute(self) -> Any:
        return self.inner.compute()


@dataclass(frozen=True)
class Segment(Task):
    def build_loss(self, label_smoothing: float = 0.0) -> Callable[[Any, Any], Tensor]:
        from ember.nn import functional as F

        return F.cross_entropy  # per pixel: (N, C, H, W) scores against (N, H, W) classes

    def metrics(self, num_classes: int, keep_predictions: bool = False) -> Any:
        from ember.vision.segmentation import SegmentationMetrics

        return SegmentationMetrics(num_classes)

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


@dataclass(frozen=True)
class Localize(Task):
    def build_loss(self, label_smoothing: float = 0.0) -> Callable[[Any, Any], Tensor]:
        from ember.vision.localization import localization_loss

        return lambda outputs, targets: localization_loss(outputs, targets[0], targets[1])

    def metrics(self, num_classes: int, keep_predictions: bool = False) -> Any:
        return _Localization()

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


def detection_collate(batch: list[Any]) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Scenes' (image, target dict) samples as (an (N, C, H, W) tensor, the list of target dicts as
    tensors): the targets differ in length, so they are kept as a list, as torchvision's references do."""
    import ember

    images = ember.from_numpy(np.stack([np.asarray(_array(image), np.float32) for image, _ in batch]))
    targets = [{key: ember.from_numpy(np.asarray(_array(v))) for key, v in t.items()} for _, t in batch]
    return images, targets


@dataclass
class DetectionResult:
    """COCO box (and mask) mAP of a split's detections (``DetectionMetrics``; -1 for a missing kind)."""

    map50: float
    map: float
    map75: float
    mask_map50: float
    mask_map: float
    mask_map75: float
    count: int
    per_class: dict[str, dict[int, float]]

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        return {
            f"{prefix}{key}": getattr(self, key)
            for key in ("map50", "map", "map75", "mask_map50", "mask_map", "mask_map75")
        }


class _Detection:
    """``DetectionMetrics`` over the detector's eval outputs (box AP; mask AP for instance segmentation)."""

    def __init__(self, masks: bool) -> None:
        from ember.vision.detection.metrics import DetectionMetrics

        self.inner = DetectionMetrics(iou_types=("bbox", "segm") if masks else ("bbox",))

    def update(self, outputs: Any, targets: Any, loss: float | None = None) -> None:
        self.inner.update(outputs, targets)

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
        )


@dataclass(frozen=True)
class Detect(Task):
    """Every object's box and class (``detect``), and its mask (``instance``): the detector computes its
    own losses from the targets in training (their sum is minimized); eval outputs are measured by COCO
    mAP (``ember.vision.detection.metrics.DetectionMetrics``); no loss is measured in evaluation (a
    detector in eval mode returns detections only, as torchvision's) and no training accuracy is counted."""

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
        return _Detection(self.masks)

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
        return {**result.as_dict(), "count": result.count, **per_class}

    def describe(self, result: Any) -> str:
        masks = f", mask mAP@0.5 {result.mask_map50:.4f} (mAP {result.mask_map:.4f})" if self.masks else ""
        return (
            f"test box mAP@0.5 {result.map50:.4f} (mAP@[.5:.95] {result.map:.4f}){masks} on {result.count} "
            "test scenes"
        )


TASKS = Registry(
    "task",
    entries={
        "classify": Task("a class per image (the default)"),
        "segment": Segment(
            "a class per pixel, on scenes (fcn_unet, segnet)", ("fcn_unet", "segnet"), "semantic", "val_miou"
        ),
        "localize": Localize(
            "the class and the box of a scene's one object (localizer)",
            ("localizer",),
            "localization",
            "val_localized",
        ),
        "detect": Detect(
            "every object's box and class, on scenes (fasterrcnn_scenes)",
            ("fasterrcnn_scenes",),
            "detection",
            "val_map50",
        ),
        "instance": Detect(
            "every object's box, class and mask, on scenes (maskrcnn_scenes)",
            ("maskrcnn_scenes",),
            "detection",
            "val_mask_map50",
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
