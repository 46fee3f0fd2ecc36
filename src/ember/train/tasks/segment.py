"""``segment``: a class per pixel of the scenes."""

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
    format_confusion,
    percent,
)


@dataclass(frozen=True)
class Segment(Task):
    def build_loss(self, label_smoothing: float = 0.0) -> Callable[[Any, Any], Tensor]:
        from ember.nn import functional as F

        return F.cross_entropy  # per pixel: (N, C, H, W) scores against (N, H, W) classes

    def metrics(self, num_classes: int, keep_predictions: bool = False) -> Any:
        from ember.vision.segmentation import SegmentationMetrics

        return SegmentationMetrics(num_classes, keep_predictions)

    def batch_correct(self, outputs: Any, targets: Any) -> tuple[float, int]:
        truth = as_array(targets)
        right = as_array(outputs).argmax(axis=1) == truth
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
        lines.append(format_confusion(result.confusion, width=8))
        return lines

    def predict(self, outputs: Any, classes: Sequence[str], top_k: int = 3) -> list[dict[str, Any]]:
        """Each image's predicted map (``mask``, an (H, W) array until ``save_predictions`` writes it) and
        the pixels of each class found (background left out)."""
        maps = as_array(outputs).argmax(axis=1)
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
