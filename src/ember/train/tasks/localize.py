"""``localize``: the class and the box of a scene's one object."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.train.metrics import topk_correct
from ember.train.tasks.base import (
    SHOWN,
    ClassTable,
    Figure,
    Task,
    as_array,
    percent,
)


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
class Localize(Task):
    def build_loss(self, label_smoothing: float = 0.0) -> Callable[[Any, Any], Tensor]:
        from ember.vision.localization import localization_loss

        return lambda outputs, targets: localization_loss(outputs, targets[0], targets[1])

    def metrics(self, num_classes: int, keep_predictions: bool = False) -> Any:
        return _Localization(keep_predictions)

    def batch_correct(self, outputs: Any, targets: Any) -> tuple[float, int]:
        labels = as_array(targets[0])
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
