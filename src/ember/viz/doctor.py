"""The doctor's pictures (``ember doctor``, ``ember train --monitor``, ``--lr auto``), in ``ember.viz.style``.

- ``plot_range_test``: loss against learning rate on a log axis, raw and smoothed, with the regions the
  lectures name (too low: loss not going down; too high: loss explodes), the valley, the candidates and
  the suggestion; beside it the verification runs at 1/10x, 1x and 10x the suggestion.
- ``plot_overfit``: loss and training accuracy per step on the small sample, real labels against the
  label-shuffle control.
- ``plot_layer_statistics``: the lecture's init experiment for any model: mean and standard deviation of each
  layer's output, the gradient reaching each layer, the update-to-weight ratio of each weight (with the
  1e-3 rule of thumb), and one histogram per layer.
- ``plot_monitor``: what ``ember train --monitor`` logged per epoch: dead ReLUs, activation spread,
  gradient norms and update ratios per layer.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.viz.style import TRAIN_COLOR, VAL_COLOR, new_figure, save_png

SUGGESTION_COLOR, CONFIGURED_COLOR = "#d62728", "#444444"
CANDIDATE_COLORS = {"steepest descent": "#ff7f0e", "minimum / 10": "#9467bd", "minimum": "#8c564b"}
TRIAL_COLORS = ("#17becf", SUGGESTION_COLOR, "#bcbd22")


def plot_range_test(result: Any, path: str | os.PathLike[str]) -> None:
    """Loss against learning rate (log axis), the valley, the candidates and the verification runs."""
    figure = new_figure(13, 5.2)
    curve_axes, trial_axes = (
        figure.subplots(1, 2, width_ratios=[1.7, 1]) if result.trials else (figure.subplots(), None)
    )
    lrs, losses = np.asarray(result.lrs), np.asarray(result.losses, dtype=np.float64)
    smoothed = np.asarray(result.smoothed, dtype=np.float64)
    finite = np.isfinite(losses)
    curve_axes.plot(
        lrs[finite], losses[finite], ".", color=TRAIN_COLOR, alpha=0.35, markersize=4, label="loss per step"
    )
    if len(smoothed):
        curve_axes.plot(lrs[: len(smoothed)], smoothed, color=TRAIN_COLOR, linewidth=2.2, label="smoothed")
        start = float(smoothed[0])
        low, high = float(np.nanmin(smoothed)), max(start, float(np.nanmax(losses[finite][:5])))
        curve_axes.set_ylim(low - 0.1 * (high - low), high + 0.35 * (high - low))
    curve_axes.set_xscale("log")
    if result.valley:
        curve_axes.axvspan(*result.valley, color="#2ca02c", alpha=0.08)
        curve_axes.axvspan(lrs[0], result.valley[0], color="grey", alpha=0.06)
        curve_axes.axvspan(_exploding_from(result), lrs[-1], color=VAL_COLOR, alpha=0.06)
        top = curve_axes.get_ylim()[1]
        middle = math.sqrt(result.valley[0] * result.valley[1])
        curve_axes.text(middle, top, "loss going down", ha="center", va="top", fontsize=10, color="#1a7a1a")
        curve_axes.text(
            math.sqrt(lrs[0] * result.valley[0]), top, "too low:\nloss not going down", ha="center", va="top",
            fontsize=10, color="#555555",
        )  # fmt: skip
        curve_axes.text(
            lrs[-1], top, "too high:\nloss explodes", ha="right", va="top", fontsize=10, color=VAL_COLOR
        )
    for name, lr in result.candidates.items():
        curve_axes.axvline(lr, color=CANDIDATE_COLORS.get(name, "grey"), linestyle=":", linewidth=1.6,
                           label=f"{name}: {lr:.2g}")  # fmt: skip
    if result.suggestion:
        curve_axes.axvline(result.suggestion, color=SUGGESTION_COLOR, linewidth=2.2, linestyle="--",
                           label=f"suggestion: {result.suggestion:.2g}")  # fmt: skip
    if result.configured_lr:
        curve_axes.axvline(result.configured_lr, color=CONFIGURED_COLOR, linewidth=1.4,
                           label=f"configured: {result.configured_lr:.2g}")  # fmt: skip
    curve_axes.set_xlabel("learning rate (log scale)", fontsize=11)
    curve_axes.set_ylabel("training loss", fontsize=11)
    curve_axes.set_title("Learning-rate range test: loss as the rate grows", fontsize=13)
    curve_axes.grid(True, which="both", alpha=0.25)
    curve_axes.legend(fontsize=9, loc="lower left")
    if trial_axes is not None:
        _plot_trials(result, trial_axes)
    save_png(figure, path)


def _exploding_from(result: Any) -> float:
    """The rate from which the smoothed loss, past its minimum, is back above where it started."""
    smoothed = np.asarray(result.smoothed, dtype=np.float64)
    lowest = int(np.nanargmin(smoothed))
    above = np.flatnonzero(smoothed[lowest:] > smoothed[0])
    return float(result.lrs[lowest + above[0]] if above.size else result.lrs[len(smoothed) - 1])


def _plot_trials(result: Any, axes: Any) -> None:
    best = result.verified_lr
    for trial, color in zip(result.trials, TRIAL_COLORS, strict=False):
        losses = np.asarray(trial.losses, dtype=np.float64)
        window = max(1, len(losses) // 8)
        steps = np.arange(1, len(losses) + 1)
        shown = (
            np.convolve(losses, np.ones(window) / window, mode="valid")
            if np.isfinite(losses).all()
            else losses
        )
        outcome = (
            "diverged"
            if trial.diverged
            else f"held-out loss {trial.val_loss:.3f}, acc {100 * trial.val_accuracy:.1f}%"
        )
        mark = "  (best)" if trial.lr == best else ""
        axes.plot(steps[len(steps) - len(shown) :], shown, color=color, linewidth=2.5 if mark else 1.6,
                  label=f"lr {trial.lr:.2g}: {outcome}{mark}")  # fmt: skip
    kept = [np.asarray(t.losses, dtype=np.float64) for t in result.trials if not t.diverged]
    if kept and len(kept) < len(result.trials):  # a diverged run leaves the picture at the top
        top = max(float(np.nanmax(losses)) for losses in kept)
        axes.set_ylim(0, 1.15 * top)
    axes.set_xlabel("step", fontsize=11)
    axes.set_ylabel("training loss (moving average)", fontsize=11)
    axes.set_title("Verification: short runs at 1/10x, 1x, 10x", fontsize=13)
    axes.grid(True, alpha=0.25)
    axes.legend(fontsize=9, loc="upper right")


def plot_overfit(finding: Any, path: str | os.PathLike[str]) -> None:
    """Loss (log scale) and training accuracy per step on the small sample, real and shuffled labels."""
    numbers = finding.numbers
    figure = new_figure(12, 4.2)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    real = np.asarray(numbers["losses"], dtype=np.float64)
    steps = np.arange(1, len(real) + 1)
    loss_axes.plot(steps, real, "o-", color=TRAIN_COLOR, markersize=3, label="real labels")
    accuracy_axes.plot(steps, 100 * np.asarray(numbers["accuracies"]), "o-", color=TRAIN_COLOR, markersize=3,
                       label="real labels")  # fmt: skip
    if "control_losses" in numbers:
        control = np.asarray(numbers["control_losses"], dtype=np.float64)
        control_steps = np.arange(1, len(control) + 1)
        label = "shuffled labels (control)"
        loss_axes.plot(control_steps, control, "s-", color=VAL_COLOR, markersize=3, label=label)
        accuracy_axes.plot(control_steps, 100 * np.asarray(numbers["control_accuracies"]), "s-",
                           color=VAL_COLOR, markersize=3, label=label)  # fmt: skip
        real_share, control_share = numbers["held_out_accuracy"], numbers["control_held_out_accuracy"]
        accuracy_axes.text(
            0.98, 0.04,
            f"on {numbers['held_out']} held-out images: real labels {100 * real_share:.0f}%, "
            f"control {100 * control_share:.0f}%",
            transform=accuracy_axes.transAxes, ha="right", va="bottom", fontsize=10,
            bbox={"facecolor": "white", "edgecolor": "#cccccc"},
        )  # fmt: skip
    if np.isfinite(real).all() and (real > 0).all():
        loss_axes.set_yscale("log")
    loss_axes.set_title(f"Overfitting {numbers['size']} examples: loss", fontsize=13)
    accuracy_axes.set_title("Training accuracy on the sample (%)", fontsize=13)
    accuracy_axes.set_ylim(0, 105)
    for axes in (loss_axes, accuracy_axes):
        axes.set_xlabel("step (full batch)", fontsize=11)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=10)
    save_png(figure, path)


def _layers_shown(layers: Sequence[Any]) -> list[Any]:
    """The layers worth a histogram: those with weights and the activations (not reshapes or dropout)."""
    skipped = ("Flatten", "Dropout", "Dropout2d", "Identity", "Unflatten")
    return [layer for layer in layers if layer.kind not in skipped]


def plot_layer_statistics(report: Any, path: str | os.PathLike[str]) -> None:
    """The init experiment for any model: per-layer mean, std, gradient, update ratio and histograms."""
    layers = _layers_shown(report.layers)
    count = max(len(layers), 1)
    columns = min(count, 8)
    rows = -(-count // columns)
    figure = new_figure(max(14, 1.9 * columns), 4.2 + 2.3 * rows)
    top, bottom = figure.subfigures(2, 1, height_ratios=[4.2, 2.3 * rows])
    mean_axes, std_axes, grad_axes, ratio_axes = top.subplots(1, 4)
    index = np.arange(1, len(layers) + 1)
    names = [f"[{i}] {layer.name}" for i, layer in zip(index, layers, strict=True)]
    mean_axes.plot(index, [layer.mean for layer in layers], "ob-")
    mean_axes.set_title("layer mean", fontsize=12)
    std_axes.plot(index, [layer.std for layer in layers], "or-")
    std_axes.set_title("layer std", fontsize=12)
    grads = [layer.grad_rms if layer.grad_rms else np.nan for layer in layers]
    grad_axes.semilogy(index, grads, "o-", color="#2ca02c")
    grad_axes.set_title("gradient w.r.t. layer output (RMS)", fontsize=12)
    for axes in (mean_axes, std_axes, grad_axes):
        axes.set_xlabel("layer [number] (named below)", fontsize=10)
        axes.set_xticks(index)
        axes.grid(True, alpha=0.3)
    weights = [
        p for p in report.parameters if p.is_weight and p.update_ratio and math.isfinite(p.update_ratio)
    ]
    if weights:
        ratio_axes.barh(range(len(weights)), [p.update_ratio for p in weights], color="#9467bd")
        ratio_axes.set_yticks(range(len(weights)), [p.name for p in weights], fontsize=9)
        ratio_axes.set_xscale("log")
        ratio_axes.axvline(1e-3, color="black", linestyle=":", label="~1e-3 (rule of thumb)")
        ratio_axes.legend(fontsize=9)
        ratio_axes.invert_yaxis()
    ratio_axes.set_title("update / weight per step", fontsize=12)
    ratio_axes.grid(True, axis="x", alpha=0.3)
    top.suptitle("Activation and gradient statistics per layer", fontsize=14)
    grid = np.atleast_1d(bottom.subplots(rows, columns, squeeze=False)).ravel()
    for axes, layer, name in zip(grid, layers, names, strict=False):
        values = np.asarray(layer.sample, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            low, high = np.percentile(values, [0.5, 99.5])
            axes.hist(values, bins=30, range=(low, high) if high > low else None, color=TRAIN_COLOR)
        title = name if len(name) <= 22 else name[:21] + "…"
        extra = f"\n{100 * layer.dead:.0f}% dead" if layer.dead is not None else ""
        extra = f"\n{100 * layer.saturated:.0f}% saturated" if layer.saturated is not None else extra
        axes.set_title(f"{title}\n{layer.kind}{extra}", fontsize=9)
        axes.tick_params(labelsize=8)
        axes.set_yticks([])
    for axes in grid[len(layers) :]:
        axes.set_axis_off()
    bottom.suptitle("Distribution of each layer's outputs", fontsize=12)
    save_png(figure, path)


def plot_monitor(records: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Per epoch, from ``monitor.jsonl``: dead ReLUs, activation std, gradient norms, update ratios."""
    figure = new_figure(13, 7.5)
    grid = figure.subplots(2, 2)
    panels = (
        (grid[0, 0], "layers", 2, "dead ReLUs (%)", False, "ReLU"),
        (grid[0, 1], "layers", 1, "activation std", True, None),
        (grid[1, 0], "gradients", 0, "gradient norm", True, None),
        (grid[1, 1], "update_ratios", None, "update / weight per step", True, None),
    )
    epochs = [record["epoch"] for record in records]
    for axes, key, position, title, log, kind in panels:
        names = list(dict.fromkeys(name for record in records for name in record.get(key, {})))
        for name in names:
            values = []
            for record in records:
                entry = record.get(key, {}).get(name)
                value = entry if position is None else (entry[position] if entry else None)
                values.append(np.nan if value is None else float(value))
            if kind == "ReLU" and all(np.isnan(values)):
                continue
            scale = 100.0 if kind == "ReLU" else 1.0
            axes.plot(epochs, scale * np.asarray(values), "o-", markersize=3, label=name)
        shown = [v for line in axes.get_lines() for v in line.get_ydata() if np.isfinite(v) and v > 0]
        if log and shown and max(shown) > 20 * min(shown):  # a log axis only for values that span decades
            axes.set_yscale("log")
        if key == "update_ratios":
            axes.axhline(1e-3, color="black", linestyle=":", label="~1e-3")
        axes.set_title(title, fontsize=12)
        axes.set_xlabel("epoch", fontsize=10)
        axes.grid(True, alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8, ncol=2)
    figure.suptitle("Babysitting the run: layer statistics per epoch (ember train --monitor)", fontsize=14)
    save_png(figure, path)
