"""The report page: one self-contained HTML file (the PNGs embedded as base64, no scripts, no links out).

Its look is ``ember.viz.page``'s (``card``, ``embedded_image`` and ``html_page`` are re-exported here).
It can be mailed, attached to an issue or opened years later: the run's outcome first (test accuracy and
the model that reached it), then the curves, the learning rate, the confusion matrix, the misclassified
images, the per-class accuracy, the per-epoch table and the full configuration.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.viz.page import card, embedded_image, html_page


def _percent(value: Any) -> str:
    return "" if value is None or value != value else f"{100 * float(value):.2f}%"


def _epoch_table(history: Sequence[dict[str, float]]) -> str:
    names = ("epoch", "lr", "train loss", "train acc", "val loss", "val acc", "seconds")
    head = "<tr>" + "".join(f"<th>{name}</th>" for name in names) + "</tr>"
    rows = []
    for record in history:
        val_loss = record.get("val_loss")
        rows.append(
            f"<tr><td>{int(record['epoch'])}</td><td>{record['lr']:.4g}</td>"
            f"<td>{record['train_loss']:.4f}</td><td>{_percent(record['train_accuracy'])}</td>"
            f"<td>{'' if val_loss is None else f'{val_loss:.4f}'}</td>"
            f"<td>{_percent(record.get('val_accuracy'))}</td>"
            f"<td>{record.get('seconds', 0):.1f}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _class_table(classes: Sequence[str], per_class: Sequence[float], counts: Sequence[int]) -> str:
    rows = []
    for name, accuracy, count in zip(classes, per_class, counts, strict=True):
        width = 0 if accuracy != accuracy else int(200 * accuracy)
        rows.append(
            f'<tr><td class="name">{html.escape(name)}</td><td>{int(count)}</td><td>{_percent(accuracy)}</td>'
            f'<td class="name"><span class="bar" style="width:{width}px"></span></td></tr>'
        )
    head = '<tr><th class="name">class</th><th>test images</th><th>accuracy</th><th class="name"></th></tr>'
    return f"<table>{head}{''.join(rows)}</table>"


def render_page(
    summary: dict[str, Any],
    config_text: str,
    history: Sequence[dict[str, float]],
    classes: Sequence[str],
    pictures: dict[str, Path],
    misclassified: int,
    notes: dict[str, str] | None = None,
    viz: bool = False,
) -> str:
    """The HTML text of the report; ``notes`` adds a paragraph under a picture's caption (by its key);
    ``viz``: link ``../viz/index.html`` (``ember viz``'s pictures, beside the report)."""
    test = summary.get("test", {})
    per_class = list(test.get("per_class_accuracy", {}).values())
    counts = [sum(row) for row in test.get("confusion_matrix", [])]
    title = f"{summary.get('model', '?')} on {summary.get('dataset', '?')}"
    best = summary.get("best_epoch")
    cards = [
        card(_percent(test.get("accuracy")), "test accuracy (top-1)"),
        card(_percent(test.get("top5")), "test top-5 accuracy"),
        card(f"{test.get('loss', float('nan')):.4f}", "test loss"),
        card(f"{summary.get('epochs', '?')}", "epochs trained"),
        card(f"{best}" if best else "last", "epoch of the model tested"),
        card(f"{summary.get('seconds', 0) / 60:.1f} min", "wall time"),
    ]
    sections = [f"<h1>Ember training report: {html.escape(title)}</h1>"]
    sections.append(
        f'<p class="subtitle">{test.get("count", "?")} test images; the model tested is the checkpoint '
        f"with the best validation accuracy ({html.escape(str(summary.get('checkpoint', '')))}).</p>"
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
        "confusion": (
            "Confusion matrix",
            "Rows are true classes, columns predicted ones; colour is the row's share.",
        ),
        "misclassified": (
            "Misclassified test images",
            f"{misclassified} test images the model got wrong, in test-set order, captioned "
            "true / predicted.",
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
    for key, (heading, note) in captions.items():
        if key in pictures:
            extra = (notes or {}).get(key)
            note_html = html.escape(note) + (f"</p><p>{html.escape(extra)}" if extra else "")
            sections.append(
                f"<h2>{heading}</h2><p class='note'>{note_html}</p>{embedded_image(pictures[key], heading)}"
            )
    if per_class:
        sections.append("<h2>Accuracy per class</h2>" + _class_table(classes, per_class, counts))
    if history:
        sections.append("<h2>Epochs</h2>" + _epoch_table(history))
    sections.append(f"<h2>Configuration</h2><pre>{html.escape(config_text)}</pre>")
    return html_page(f"Ember report: {title}", "\n".join(sections))


__all__ = ["card", "embedded_image", "html_page", "render_page"]
