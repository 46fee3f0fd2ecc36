"""The run report: PNG plots (``plots``) and one self-contained HTML page (``html``) in ``RUN/report/``.

``write_report`` reads what the run left in its directory (``metrics.csv``, ``steps.csv``,
``summary.json``, ``config.yaml``) and takes the test split's predictions and raw images, which are not
stored, for the task's pictures of them (a classifier's confusion matrix and misclassified grid, a
segmentation's predicted masks next to the truth, a localizer's predicted boxes against the true ones).
Needs matplotlib (the ``train`` extra).
Every file is written atomically (``ember.atomic``): a full disk leaves the previous page and plots whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ember.atomic import atomic_write
from ember.train.callbacks.logging import read_csv


def write_report(
    directory: str | os.PathLike[str],
    test: Any = None,
    images: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
) -> Path:
    """Write ``report/*.png`` and ``report/index.html`` for the run in ``directory``; returns the page.

    ``test``: the test split measured with its predictions kept; ``images``: the test split's raw images;
    the pictures of predictions are the run's task's (``Task.report_figures``: ``ember.train.tasks``)."""
    import matplotlib  # the train extra: without it, an ImportError says to install it

    from ember.train.report.html import render_page
    from ember.train.tasks import TASKS
    from ember.viz import report as plots

    directory = Path(directory)
    out = directory / "report"
    history = read_csv(directory / "metrics.csv")
    steps = read_csv(directory / "steps.csv")
    summary_path = directory / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    task = TASKS[summary.get("task", "classify")]
    measured = summary.get("test", {})
    names = (
        list(classes)
        if classes is not None
        else list(measured.get("per_class_accuracy") or measured.get("iou_per_class") or {})
    )
    pictures: dict[str, Path] = {}
    if history:
        pictures["curves"] = out / "curves.png"
        plots.plot_curves(history, pictures["curves"], summary.get("best_epoch"))
    if steps:
        pictures["steps"] = out / "learning_rate.png"
        plots.plot_steps(steps, pictures["steps"])
    figures = task.report_figures(out, measured, test, images, names)
    notes = _doctor_pictures(directory, out, pictures)
    config_path = directory / "config.yaml"
    config_text = config_path.read_text() if config_path.exists() else ""
    viz = directory / "viz" / "index.html"  # written by ember viz
    page = render_page(summary, config_text, history, task, names, pictures, figures, notes, viz.exists())
    return atomic_write(out / "index.html", page)


def _doctor_pictures(directory: Path, out: Path, pictures: dict[str, Path]) -> dict[str, str]:
    """The range test of ``--lr auto`` and the layer statistics of ``--monitor``, if the run has them."""
    from ember.train.doctor import RangeTest, read_monitor
    from ember.viz import doctor as doctor_plots

    notes = {}
    found = directory / "lr_find.json"
    if found.exists():
        test = RangeTest.from_dict(json.loads(found.read_text()))
        pictures["lr_find"] = out / "lr_find.png"
        doctor_plots.plot_range_test(test, pictures["lr_find"])
        notes["lr_find"] = f"{test.message}; the run trained at lr {test.verified_lr:g}."
    records = read_monitor(directory)
    if records:
        pictures["monitor"] = out / "monitor.png"
        doctor_plots.plot_monitor(records, pictures["monitor"])
    return notes


__all__ = ["write_report"]
