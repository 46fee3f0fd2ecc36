"""The search page's pictures, in the run report's style (``ember.train.report.plots``: its figure and PNG
writer), drawn from the results rows alone.

- ``plot_objective``: the best validation accuracy of each trial against each hyperparameter, on the
  hyperparameter's scale (a log axis for ``log``), pruned trials hollow, each stage's range shaded: where
  the good values lie, and whether the best lie at an edge of the range (then widen it).
- ``plot_history``: each trial's accuracy in the order the trials were numbered, and the best so far.
- ``plot_parallel``: parallel coordinates, one axis per hyperparameter (on its scale) and one for the
  accuracy, a line per trial coloured by its accuracy: which combinations do well together.
- ``plot_top_curves``: the loss and accuracy curves of the top trials (the lectures' step 6: look at the
  loss curves before training the best longer).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ember.train.search.results import Row, format_value, short_name
from ember.train.search.space import Param
from ember.viz.style import new_figure, save_png

STAGE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
CURVE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _stage_color(stage: int) -> str:
    return STAGE_COLORS[(stage - 1) % len(STAGE_COLORS)]


def _position(param: Param, value: Any) -> float:
    """Where ``value`` sits on the parameter's axis: itself for numbers, its index for a choice."""
    if param.scale == "choice":
        return float(list(param.choices).index(value)) if value in param.choices else np.nan
    return float(value)


def _fraction(param: Param, value: Any) -> float:
    """``value`` at 0..1 along the original range, on the parameter's scale (parallel coordinates)."""
    if param.scale == "choice":
        return _position(param, value) / max(len(param.choices) - 1, 1)
    assert param.low is not None and param.high is not None
    low, high = param.forward(param.low), param.forward(param.high)
    return (param.forward(float(value)) - low) / (high - low)


def _margins(param: Param) -> tuple[float, float]:
    """The parameter's range with 3% more on each side, on its scale."""
    assert param.low is not None and param.high is not None
    low, high = param.forward(param.low), param.forward(param.high)
    pad = 0.03 * (high - low)
    return param.inverse(low - pad), param.inverse(high + pad)


def _ranked(rows: Sequence[Row]) -> list[Row]:
    return [row for row in rows if row.ranked]


def plot_objective(
    rows: Sequence[Row],
    space: Sequence[Param],
    path: str | os.PathLike[str],
    ranges: Mapping[int, Sequence[Param]],
) -> None:
    """Best validation accuracy against each hyperparameter; ``ranges``: each stage's space (shaded)."""
    columns = min(len(space), 3)
    lines = -(-len(space) // columns)
    figure = new_figure(4.2 * columns + 0.6, 3.8 * lines + 0.4)
    grid = figure.subplots(lines, columns, squeeze=False)
    ranked = _ranked(rows)
    best = max(
        (row for row in ranked if row.state == "COMPLETE"), key=lambda row: row.value or 0, default=None
    )
    for k, axes in enumerate(grid.flat):
        if k >= len(space):
            axes.set_axis_off()
            continue
        param = space[k]
        for stage, stage_space in sorted(ranges.items()):
            narrowed = next((p for p in stage_space if p.name == param.name), None)
            if stage > 1 and narrowed is not None and narrowed.numeric:
                axes.axvspan(
                    narrowed.low,
                    narrowed.high,
                    color=_stage_color(stage),
                    alpha=0.08,
                    label=f"stage {stage} range",
                )
        for stage in sorted({row.stage for row in ranked}):
            for state, face in (("COMPLETE", None), ("PRUNED", "none")):
                chosen = [row for row in ranked if row.stage == stage and row.state == state]
                if not chosen:
                    continue
                x = [_position(param, row.params.get(param.name)) for row in chosen]
                if param.scale == "choice":  # spread the dots of one option a little, by trial number
                    x = [
                        value + 0.12 * (((row.trial * 7) % 11) / 10 - 0.5)
                        for value, row in zip(x, chosen, strict=True)
                    ]
                y = [100 * (row.value or 0) for row in chosen]
                color = _stage_color(stage)
                label = f"stage {stage} {'complete' if state == 'COMPLETE' else 'pruned'}"
                axes.scatter(
                    x,
                    y,
                    s=36,
                    facecolors=face or color,
                    edgecolors=color,
                    linewidths=1.3,
                    label=label,
                    zorder=3,
                )
        if best is not None and param.name in best.params:
            where = ([_position(param, best.params[param.name])], [100 * (best.value or 0)])
            axes.scatter(
                *where, marker="*", s=220, color="#ffbf00", edgecolors="black", label="best", zorder=4
            )
        if param.scale == "log":
            axes.set_xscale("log")
        if param.scale == "choice":
            axes.set_xticks(range(len(param.choices)), [str(choice) for choice in param.choices])
            axes.set_xlim(-0.5, len(param.choices) - 0.5)
        else:  # the whole range searched, so that where the trials fell in it shows
            axes.set_xlim(*_margins(param))
        axes.set_title(f"{param.name} ({param.scale})", fontsize=12)
        axes.set_xlabel(param.name, fontsize=10)
        axes.set_ylabel("best val accuracy (%)", fontsize=10)
        axes.grid(True, alpha=0.3)
        if k == 0 and axes.get_legend_handles_labels()[0]:  # none before a trial has finished
            axes.legend(fontsize=8, loc="lower left")
    figure.suptitle("Validation accuracy against each hyperparameter (hollow: pruned)", fontsize=14)
    save_png(figure, path)


def plot_history(rows: Sequence[Row], path: str | os.PathLike[str]) -> None:
    """Each trial's best validation accuracy in trial order, stage after stage, and the best so far."""
    figure = new_figure(12, 4.5)
    axes = figure.subplots()
    ordered = sorted(_ranked(rows), key=lambda row: (row.stage, row.trial))
    x = np.arange(1, len(ordered) + 1)
    for stage in sorted({row.stage for row in ordered}):
        for state, face in (("COMPLETE", None), ("PRUNED", "none")):
            picked = [
                (i, row)
                for i, row in zip(x, ordered, strict=True)
                if row.stage == stage and row.state == state
            ]
            if picked:
                color = _stage_color(stage)
                label = f"stage {stage} {'complete' if state == 'COMPLETE' else 'pruned'}"
                where = ([i for i, _ in picked], [100 * (row.value or 0) for _, row in picked])
                axes.scatter(*where, s=40, facecolors=face or color, edgecolors=color, zorder=3, label=label)
    complete = np.array([100 * (row.value or 0) if row.state == "COMPLETE" else np.nan for row in ordered])
    if np.isfinite(complete).any():
        best = np.fmax.accumulate(np.where(np.isfinite(complete), complete, -np.inf))
        shown = np.where(np.isfinite(best), best, np.nan)
        axes.step(x, shown, where="post", color="black", linewidth=1.5, label="best complete so far")
    for i in range(1, len(ordered)):
        if ordered[i].stage != ordered[i - 1].stage:
            axes.axvline(x[i] - 0.5, color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("trial (in order, stage after stage)", fontsize=11)
    axes.set_ylabel("best val accuracy (%)", fontsize=11)
    axes.set_title("Optimization history", fontsize=13)
    axes.grid(True, alpha=0.3)
    if len(ordered):
        axes.legend(fontsize=9, loc="lower right")
    save_png(figure, path)


def plot_parallel(rows: Sequence[Row], space: Sequence[Param], path: str | os.PathLike[str]) -> None:
    """Parallel coordinates: an axis per hyperparameter (its original range, on its scale), the accuracy."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    figure = new_figure(12, 5)
    axes = figure.subplots()
    ranked = sorted(_ranked(rows), key=lambda row: row.value or 0)
    values = np.array([100 * (row.value or 0) for row in ranked])
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    norm = Normalize(low, high if high > low else low + 1)
    cmap = colormaps["viridis"]
    count = len(space)
    x = np.arange(count + 1)
    for row, value in zip(ranked, values, strict=True):
        y = [_fraction(param, row.params.get(param.name)) for param in space] + [norm(value)]
        pruned = row.state == "PRUNED"
        axes.plot(x, y, color=cmap(norm(value)), linewidth=1 if pruned else 2, alpha=0.45 if pruned else 0.9,
                  linestyle="--" if pruned else "-")  # fmt: skip
    for position in x:
        axes.axvline(position, color="black", linewidth=1)
    for i, param in enumerate(space):
        if param.scale == "choice":
            for j, choice in enumerate(param.choices):
                axes.text(i + 0.04, j / max(len(param.choices) - 1, 1), str(choice), fontsize=9, va="center")
        else:
            axes.text(i + 0.04, 0.0, format_value(param.low), fontsize=9, va="bottom")
            axes.text(i + 0.04, 1.0, format_value(param.high), fontsize=9, va="top")
    axes.text(count + 0.04, 0.0, f"{low:.2f}%", fontsize=9, va="bottom")
    axes.text(count + 0.04, 1.0, f"{high:.2f}%", fontsize=9, va="top")
    axes.set_xticks(x, [f"{param.name}\n({param.scale})" for param in space] + ["val accuracy"], fontsize=10)
    axes.set_yticks([])
    axes.set_xlim(-0.1, count + 0.5)
    axes.set_ylim(-0.05, 1.05)
    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="best val accuracy (%)", pad=0.02)
    axes.set_title("Parallel coordinates (dashed: pruned)", fontsize=13)
    save_png(figure, path)


def plot_top_curves(rows: Sequence[Row], path: str | os.PathLike[str], count: int = 5) -> list[Row]:
    """Loss (training dashed, validation solid) and validation accuracy per epoch of the last stage's top
    complete trials (the trials of one stage share their budget, so their curves compare)."""
    from matplotlib.ticker import MaxNLocator

    complete = [row for row in rows if row.state == "COMPLETE" and row.history]
    stage = max((row.stage for row in complete), default=1)
    top = sorted(
        (row for row in complete if row.stage == stage), key=lambda row: row.value or 0, reverse=True
    )
    top = top[:count]
    figure = new_figure(12, 4.8)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for k, row in enumerate(top):
        color = CURVE_COLORS[k % len(CURVE_COLORS)]
        epochs = [record["epoch"] for record in row.history]
        values = ", ".join(f"{short_name(name)} {format_value(value)}" for name, value in row.params.items())
        label = f"trial {row.trial}: {100 * (row.value or 0):.2f}% ({values})"
        loss_axes.plot(
            epochs, [r.get("train_loss", np.nan) for r in row.history], "--", color=color, alpha=0.7
        )
        loss_axes.plot(
            epochs, [r.get("val_loss", np.nan) for r in row.history], "o-", color=color, label=label
        )
        accuracy = [100 * r.get("val_accuracy", np.nan) for r in row.history]
        accuracy_axes.plot(epochs, accuracy, "s-", color=color, label=label)
    loss_axes.set_title("Loss per epoch (dashed: training, solid: validation)", fontsize=12)
    accuracy_axes.set_title("Validation accuracy per epoch", fontsize=12)
    for axes, label in ((loss_axes, "loss"), (accuracy_axes, "val accuracy (%)")):
        axes.set_xlabel("epoch", fontsize=11)
        axes.set_ylabel(label, fontsize=11)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)
    if top:
        accuracy_axes.legend(fontsize=8)
    figure.suptitle(f"Learning curves of the top {len(top)} trials of stage {stage}", fontsize=14)
    save_png(figure, path)
    return top
