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


VISION_MODULES = ("ember.vision.segmentation", "ember.vision.localization")  # their models register


def _array(value: Any) -> np.ndarray:
    return value.array if isinstance(value, Tensor) else np.asarray(value)


@dataclass(frozen=True)
class Task:
    """Classification; the other tasks override what differs."""

    help: str
    models: tuple[str, ...] = ()  # (): any model of the zoo that no other task claims
    target_type: str = ""  # Scenes' target_type ("": a classification data set)
    monitor: str = "val_accuracy"  # the validation measure (higher is better) choosing the best checkpoint

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
            problems.append(("dataset", f"{config.dataset} is for --task segment or localize, not classify"))
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
