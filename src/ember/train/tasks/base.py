"""What every task is: ``Task`` (classification, whose methods the other tasks override), the report's
figures and tables, and the helpers the tasks share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.errors import EmberError
from ember.train.metrics import ClassificationMetrics, topk_correct


class TaskError(EmberError, ValueError):
    """A command that measures classifiers was given a run of another task."""


SHOWN = 8  # scenes per picture of predictions (the report's, ember predict's)


def as_array(value: Any) -> np.ndarray:
    """A tensor's NumPy array (shared), or any other value as an array."""
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


def format_confusion(confusion: Any, width: int = 6) -> str:
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

    def batch_correct(self, outputs: Any, targets: Any) -> tuple[float | None, int]:
        """(right answers, images) of a training batch: its accuracy is their ratio (None: the task counts
        no accuracy, and the logs show none)."""
        labels = as_array(targets)
        return topk_correct(outputs, labels, 1), len(labels)

    def loss_terms(self, outputs: Any) -> dict[str, float]:
        """The named terms whose sum is a training batch's loss, if the model gives them (a detector's
        ``loss_classifier``, ...): the epoch's record keeps their means as ``train_<name>``."""
        return {}

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
        """(value, label) of the report's headline numbers, from ``summary.json``'s ``test``; the report
        adds the test loss (where the run has one), the epochs and the wall time for every task."""
        return [
            (percent(test.get("accuracy")), "test accuracy (top-1)"),
            (percent(test.get("top5")), "test top-5 accuracy"),
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
        lines.append(format_confusion(result.confusion))
        return lines

    def predict(self, outputs: Any, classes: Sequence[str], top_k: int = 3) -> list[dict[str, Any]]:
        """What the model's ``outputs`` for a batch of images say, one JSON-able dict per image: here the
        ``top_k`` classes with their probabilities."""
        scores = as_array(outputs).astype(np.float64)
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
