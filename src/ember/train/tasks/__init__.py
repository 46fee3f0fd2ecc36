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

from typing import Any

from ember.registry import Registry
from ember.train.datasets import DATASETS
from ember.train.tasks.base import SHOWN, ClassTable, Figure, Task, TaskError, as_array, percent
from ember.train.tasks.detect import Detect, DetectionResult, detection_collate
from ember.train.tasks.localize import Localize
from ember.train.tasks.segment import Segment

__all__ = [
    "SHOWN",
    "TASKS",
    "VISION_MODULES",
    "ClassTable",
    "Detect",
    "DetectionResult",
    "Figure",
    "Localize",
    "Segment",
    "Task",
    "TaskError",
    "as_array",
    "check_task",
    "detection_collate",
    "percent",
    "register_vision_models",
    "require_classification",
    "task_of_model",
]

# Their models register (the zoo's table) when imported.
VISION_MODULES = (
    "ember.vision.segmentation",
    "ember.vision.localization",
    "ember.vision.detection.faster_rcnn",
    "ember.vision.detection.mask_rcnn",
    "ember.vision.detection.yolo",
)


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
            "every object's box and class, on scenes (fasterrcnn_scenes, yolo)",
            ("fasterrcnn_scenes", "yolo"),
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
