"""The report page: one self-contained HTML file (the PNGs embedded as base64, no scripts, no links out).

Its look is ``ember.viz.page``'s (``card``, ``embedded_image`` and ``html_page`` are re-exported here).
It can be mailed, attached to an issue or opened years later: the run's outcome first (the task's test
measures and the model that reached it), then the curves, the learning rate, the task's pictures of the
test predictions (a classifier's confusion matrix and misclassified images, a segmentation's masks next to
the truth, a localizer's boxes), the per-class table, the per-epoch table and the full configuration.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.train.tasks import ClassTable, Figure, Task, percent
from ember.viz.page import card, embedded_image, html_page


def _epoch_table(history: Sequence[dict[str, float]], monitor: str = "val_accuracy") -> str:
    """Per epoch: rate, losses, accuracies, and the task's validation measure if it is another one."""
    extra = monitor if monitor != "val_accuracy" else None
    names = ["epoch", "lr", "train loss", "train acc", "val loss", "val acc"]
    names += [extra.replace("_", " ")] if extra else []
    head = "<tr>" + "".join(f"<th>{name}</th>" for name in [*names, "seconds"]) + "</tr>"
    rows = []
    for record in history:
        val_loss = record.get("val_loss")
        value = record.get(extra) if extra else None
        rows.append(
            f"<tr><td>{int(record['epoch'])}</td><td>{record['lr']:.4g}</td>"
            f"<td>{record['train_loss']:.4f}</td><td>{percent(record.get('train_accuracy'))}</td>"
            f"<td>{'' if val_loss is None else f'{val_loss:.4f}'}</td>"
            f"<td>{percent(record.get('val_accuracy'))}</td>"
            + (f"<td>{'' if value is None else f'{value:.4f}'}</td>" if extra else "")
            + f"<td>{record.get('seconds', 0):.1f}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _class_table(table: ClassTable) -> str:
    rows = []
    for name, count, value in table.rows:
        missing = value is None or value != value
        width = 0 if missing else int(200 * float(value or 0))
        shown = percent(value) if table.as_percent or missing else f"{float(value or 0):.4f}"
        rows.append(
            f'<tr><td class="name">{html.escape(name)}</td><td>{int(count)}</td><td>{shown}</td>'
            f'<td class="name"><span class="bar" style="width:{width}px"></span></td></tr>'
        )
    head = (
        f'<tr><th class="name">class</th><th>{html.escape(table.counted)}</th>'
        f'<th>{html.escape(table.measure)}</th><th class="name"></th></tr>'
    )
    return f"<table>{head}{''.join(rows)}</table>"


def render_page(
    summary: dict[str, Any],
    config_text: str,
    history: Sequence[dict[str, float]],
    task: Task,
    classes: Sequence[str],
    pictures: dict[str, Path],
    figures: Sequence[Figure] = (),
    notes: dict[str, str] | None = None,
    viz: bool = False,
) -> str:
    """The HTML text of the report: ``task`` (``ember.train.tasks.Task``) gives the headline numbers, the
    per-class table and ``figures`` its pictures of the test predictions; ``pictures`` are the curves
    and the doctor's plots, ``notes`` adds a paragraph under one's caption (by its key); ``viz``: link
    ``../viz/index.html`` (``ember viz``'s pictures, beside the report)."""
    test = summary.get("test", {})
    title = f"{summary.get('model', '?')} on {summary.get('dataset', '?')}"
    best = summary.get("best_epoch")
    cards = [card(value, label) for value, label in task.report_cards(test)]
    if "loss" in test:  # a detection run's test has no loss: no card rather than "nan"
        cards.append(card(f"{test['loss']:.4f}", "test loss"))
    cards += [
        card(f"{summary.get('epochs', '?')}", "epochs trained"),
        card(f"{best}" if best else "last", "epoch of the model tested"),
        card(f"{summary.get('seconds', 0) / 60:.1f} min", "wall time"),
    ]
    sections = [f"<h1>Ember training report: {html.escape(title)}</h1>"]
    sections.append(
        f'<p class="subtitle">{test.get("count", "?")} test {task.items}; the model tested is the checkpoint '
        f"with the best {task.monitor_label} ({html.escape(str(summary.get('checkpoint', '')))}).</p>"
    )
    if summary.get("stop_reason"):
        sections.append(f'<p class="note">Stopped: {html.escape(summary["stop_reason"])}</p>')
    sections.append(f'<div class="cards">{"".join(cards)}</div>')
    if viz:
        sections.append(
            "<p>Inside the network (filters, saliency, t-SNE, ...): "
            '<a href="../viz/index.html">ember viz</a>.</p>'
        )
    captions = {
        "curves": (
            "Loss and accuracy per epoch",
            "Training against validation: the gap between the two curves is what regularization closes; a "
            "validation loss that rises while the training loss falls is overfitting.",
        ),
        "steps": (
            "Loss and learning rate per iteration",
            "Babysitting the learning process: the loss should fall quickly at first, then slowly.",
        ),
        "lr_find": (
            "Learning rate chosen by the range test (--lr auto)",
            "Loss as the rate grows over one sweep, and short runs at 1/10x, 1x and 10x the suggestion.",
        ),
        "monitor": (
            "Layer statistics per epoch (--monitor)",
            "Dead ReLUs, activation spread, gradient norms and update/weight ratios (~1e-3 is healthy).",
        ),
    }
    shown: list[tuple[str | None, str, str, Path]] = [
        (key, *captions[key], pictures[key]) for key in ("curves", "steps") if key in pictures
    ]
    shown += [(None, figure.heading, figure.note, figure.path) for figure in figures]
    shown += [(key, *captions[key], pictures[key]) for key in ("lr_find", "monitor") if key in pictures]
    for key, heading, note, path in shown:
        extra = (notes or {}).get(key) if key else None
        note_html = html.escape(note) + (f"</p><p>{html.escape(extra)}" if extra else "")
        sections.append(f"<h2>{heading}</h2><p class='note'>{note_html}</p>{embedded_image(path, heading)}")
    table = task.class_table(test, classes)
    if table is not None:
        sections.append(f"<h2>{html.escape(table.heading)}</h2>" + _class_table(table))
    if history:
        sections.append("<h2>Epochs</h2>" + _epoch_table(history, task.monitor))
    sections.append(f"<h2>Configuration</h2><pre>{html.escape(config_text)}</pre>")
    return html_page(f"Ember report: {title}", "\n".join(sections))


__all__ = ["card", "embedded_image", "html_page", "render_page"]
