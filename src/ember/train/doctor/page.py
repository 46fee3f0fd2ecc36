"""The doctor's page: one self-contained HTML file in the shared style (``ember.viz.page``).

First the verdict (how many checks passed, the suggested and verified learning rates, the time), then
one section per check in the lectures' order: what it measured, the likely causes when it tripped, and
its picture.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ember.train.doctor.findings import rate
from ember.train.doctor.range_test import RangeTest
from ember.viz.page import card, embedded_image, html_page

STYLE = """
.ok { color: #1a7a1a; font-weight: 600; } .flag { color: #b00000; font-weight: 600; }
td.message { text-align: left; max-width: 48em; }
ul.causes li { margin-bottom: 0.3em; } .cause { color: #b00000; }
"""

WHAT = {  # the lecture's step each check stands for
    "initial loss": "Initialize and check initial loss with no regularization.",
    "regularization": "Increase regularization, loss should increase.",
    "overfit a small sample": "Try a small portion of data, check you can overfit (regularization off).",
    "learning-rate range test": "Find the learning rate that makes the loss go down (Smith's range test), "
    "and verify it by short runs.",
    "layer statistics": "Look at the activation and gradient statistics; the update/weight ratio should be "
    "around 1e-3.",
}


def _verdict(ok: bool) -> str:
    return '<span class="ok">ok</span>' if ok else '<span class="flag">flagged</span>'


def _first_cause(finding: Any) -> str:
    """The likely cause of a flagged finding, under its message in the summary table."""
    if finding.ok or not finding.causes:
        return ""
    more = f" (and {len(finding.causes) - 1} more below)" if len(finding.causes) > 1 else ""
    return f"<br><span class='cause'>{html.escape(finding.causes[0])}{more}</span>"


def render_doctor_page(report: Any, pictures: dict[str, Path]) -> str:
    config = report.config
    title = f"{config.model} on {config.dataset}"
    passed = sum(finding.ok for finding in report.findings)
    cards = [
        card(f"{passed} / {len(report.findings)}", "checks passed"),
        card(rate(config.optimizer.lr), f"configured learning rate ({config.optimizer.name})"),
    ]
    found = next((f for f in report.findings if isinstance(f, RangeTest)), None)
    if found is not None and found.suggestion:
        cards.append(card(rate(found.suggestion), "range test's suggestion"))
        cards.append(card(rate(found.verified_lr or found.suggestion), "trains best (verified)"))
    cards.append(card(f"{report.seconds.get('total', 0):.0f} s", "time"))
    rows = "".join(
        f"<tr><td class='name'>{i}. {html.escape(f.check)}</td><td>{_verdict(f.ok)}</td>"
        f"<td class='message'>{html.escape(f.message)}{_first_cause(f)}</td></tr>"
        for i, f in enumerate(report.findings, 1)
    )
    sections = [
        f"<h1>Ember doctor: {html.escape(title)}</h1>",
        "<p class='subtitle'>Babysitting the learning process: the lectures' checklist, run on this "
        "configuration's model, data and optimizer before training.</p>",
        f'<div class="cards">{"".join(cards)}</div>',
        "<table><tr><th class='name'>check</th><th>verdict</th><th class='name'>finding</th></tr>"
        f"{rows}</table>",
    ]
    for i, finding in enumerate(report.findings, 1):
        parts = [f"<h2>{i}. {html.escape(finding.check)}: {_verdict(finding.ok)}</h2>"]
        parts.append(f"<p class='note'>{html.escape(WHAT.get(finding.check, ''))}</p>")
        parts.append(f"<p>{html.escape(finding.message)}</p>")
        if finding.causes:
            items = "".join(f"<li>{html.escape(cause)}</li>" for cause in finding.causes)
            label = "Likely causes" if not finding.ok else "Notes"
            parts.append(f"<p>{label}:</p><ul class='causes'>{items}</ul>")
        if finding.check in pictures:
            parts.append(embedded_image(pictures[finding.check], finding.check))
        sections.append("\n".join(parts))
    settings = json.dumps(config.to_dict(), indent=2)
    sections.append(f"<h2>Configuration</h2><pre>{html.escape(settings)}</pre>")
    return html_page(f"Ember doctor: {title}", "\n".join(sections), STYLE)
