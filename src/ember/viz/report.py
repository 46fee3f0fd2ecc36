"""The run report's pictures (``ember train`` / ``ember report``), in ``ember.viz.style``.

- ``plot_curves``: training and validation loss and accuracy per epoch, side by side: the lectures'
  "beyond training error" picture. Training loss going down while validation loss goes up, or a wide gap
  between the two accuracies, is overfitting; both flat and high is underfitting.
- ``plot_steps``: the loss at every iteration (raw and smoothed) above the learning rate at every
  iteration, for babysitting: a loss that stalls at the start means a learning rate too low, one that
  explodes a rate too high, and the schedule's shape is visible below it.
- ``plot_confusion``: the test confusion matrix, each row normalized to the class's share (colour) with the
  counts written in the cells: which classes are mistaken for which.
- ``plot_misclassified``: test images the model got wrong, each captioned with its true and predicted class.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ember.viz.style import TRAIN_COLOR, VAL_COLOR, image_grid, new_figure, save_png


def _column(rows: Sequence[dict[str, float]], key: str) -> np.ndarray:
    return np.asarray([row.get(key, np.nan) for row in rows], dtype=np.float64)


def plot_curves(
    history: Sequence[dict[str, float]], path: str | os.PathLike[str], best_epoch: int | None = None
) -> None:
    """Loss and accuracy per epoch, training against validation."""
    figure = new_figure(12, 4.5)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    epochs = _column(history, "epoch")
    for axes, key, title in ((loss_axes, "loss", "Loss"), (accuracy_axes, "accuracy", "Accuracy (%)")):
        scale = 100.0 if key == "accuracy" else 1.0
        train, val = scale * _column(history, f"train_{key}"), scale * _column(history, f"val_{key}")
        axes.plot(epochs, train, "o-", color=TRAIN_COLOR, label=f"training {key}")
        if np.isfinite(val).any():
            axes.plot(epochs, val, "s-", color=VAL_COLOR, label=f"validation {key}")
        if best_epoch:
            axes.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
        axes.set_title(f"{title} per epoch", fontsize=13)
        axes.set_xlabel("epoch", fontsize=11)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=10)
        if len(epochs):
            axes.set_xticks(epochs if len(epochs) <= 20 else epochs[:: max(1, len(epochs) // 10)])
    figure.suptitle("Beyond training error: training vs. validation", fontsize=14)
    save_png(figure, path)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` values (over all of them for the first steps)."""
    if window < 2:
        return values
    sums = np.convolve(values, np.ones(window), mode="full")[: len(values)]
    return sums / np.minimum(np.arange(1, len(values) + 1), window)


def plot_steps(steps: Sequence[dict[str, float]], path: str | os.PathLike[str]) -> None:
    """The loss at every step (with a moving average) above the learning rate at every step."""
    figure = new_figure(12, 6.5)
    loss_axes, lr_axes = figure.subplots(2, 1, sharex=True)
    step, loss, lr = _column(steps, "step"), _column(steps, "loss"), _column(steps, "lr")
    finite = np.isfinite(loss)
    loss_axes.plot(
        step[finite], loss[finite], color=TRAIN_COLOR, alpha=0.3, linewidth=0.8, label="loss per step"
    )
    window = max(1, len(step) // 50)
    if finite.all() and window > 1:
        loss_axes.plot(
            step, _smooth(loss, window), color=TRAIN_COLOR, linewidth=2, label=f"mean of {window} steps"
        )
    loss_axes.set_ylabel("training loss", fontsize=11)
    loss_axes.set_title("Training loss per iteration", fontsize=13)
    loss_axes.grid(True, alpha=0.3)
    loss_axes.legend(fontsize=10)
    lr_axes.plot(step, lr, color="#2ca02c", linewidth=2)
    lr_axes.set_ylabel("learning rate", fontsize=11)
    lr_axes.set_xlabel("step (iteration)", fontsize=11)
    lr_axes.set_title("Learning rate schedule", fontsize=13)
    lr_axes.grid(True, alpha=0.3)
    lr_axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    save_png(figure, path)


def plot_confusion(confusion: np.ndarray, classes: Sequence[str], path: str | os.PathLike[str]) -> None:
    """Row-normalized confusion matrix with counts (rows: true class, columns: predicted class)."""
    n = len(classes)
    size = max(6.0, 0.6 * n + 3)
    figure = new_figure(size + 1.5, size)
    axes = figure.subplots()
    totals = confusion.sum(axis=1, keepdims=True)
    shares = confusion / np.maximum(totals, 1)
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    if n <= 30:
        font = 9 if n <= 12 else 6
        for t in range(n):
            for p in range(n):
                if confusion[t, p]:
                    color = "white" if shares[t, p] > 0.5 else "black"
                    axes.text(
                        p, t, str(confusion[t, p]), ha="center", va="center", fontsize=font, color=color
                    )
        axes.set_xticks(range(n), list(classes), rotation=45, ha="right", fontsize=10)
        axes.set_yticks(range(n), list(classes), fontsize=10)
    axes.set_xlabel("predicted class", fontsize=11)
    axes.set_ylabel("true class", fontsize=11)
    accuracy = np.trace(confusion) / max(confusion.sum(), 1)
    axes.set_title(f"Confusion matrix on the test set (accuracy {100 * accuracy:.2f}%)", fontsize=13)
    save_png(figure, path)


def plot_misclassified(
    images: np.ndarray,
    targets: np.ndarray,
    predictions: np.ndarray,
    classes: Sequence[str],
    path: str | os.PathLike[str],
    count: int = 32,
    columns: int = 8,
) -> int:
    """The first ``count`` misclassified images with "true / predicted" captions; returns how many."""
    wrong = np.flatnonzero(predictions != targets)[:count]
    rows = max(1, -(-len(wrong) // columns))
    figure = new_figure(1.5 * columns, 1.9 * rows + 0.5)  # about the page's width: captions stay legible
    captions = [f"true: {classes[targets[i]]}\npred: {classes[predictions[i]]}" for i in wrong]
    image_grid(figure, [images[i] for i in wrong], captions, columns, caption_color="#b00000")
    total = int((predictions != targets).sum())
    figure.suptitle(
        f"Misclassified test images: {len(wrong)} of {total} shown (true class / predicted class)",
        fontsize=13,
    )
    save_png(figure, path)
    return len(wrong)
