"""The shared look of Ember's HTML pages (run report, doctor, ``ember viz``, labs): one style sheet and the
pieces every page is made of. A page is one self-contained file: PNGs embedded as base64, no links out.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1150px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { font-size: 1.3em; margin-top: 1.8em;
       border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.subtitle { color: #555; margin-top: 0; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; margin: 1.2em 0; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: 0.7em 1.1em; min-width: 9em;
        background: #fafafa; }
.card .value { font-size: 1.6em; font-weight: 600; } .card .label { color: #555; font-size: 0.9em; }
img { max-width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 0.92em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th { background: #f2f2f2; } td.name, th.name { text-align: left; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.88em; }
.bar { display: inline-block; height: 0.8em; background: #1f77b4; vertical-align: middle; }
.note { color: #555; font-size: 0.92em; }
"""


def embedded_image(path: Path, alt: str) -> str:
    """An ``<img>`` holding the PNG itself (base64), so the page needs no other file."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def card(value: str, label: str) -> str:
    """A big number with its label, for the row of cards at the top of a page."""
    value_html = f'<div class="value">{html.escape(value)}</div>'
    return f'<div class="card">{value_html}<div class="label">{html.escape(label)}</div></div>'


def section(heading: str, note: str, picture: Path) -> str:
    """A heading, a short explanation and the picture (embedded)."""
    title = f"<h2>{html.escape(heading)}</h2>"
    return f"{title}<p class='note'>{html.escape(note)}</p>{embedded_image(picture, heading)}"


def html_page(title: str, body: str, style: str = "") -> str:
    """A whole page: ``body`` (HTML) under ``title``, in the shared style (plus ``style``, CSS)."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}{style}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
