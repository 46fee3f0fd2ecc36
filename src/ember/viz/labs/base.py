"""What every lab returns and how its folder is written."""

from __future__ import annotations

import html
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.atomic import atomic_write
from ember.viz.page import html_page, section

# name -> what it shows (the module ember.viz.labs.<name> runs it)
LABS = {
    "init": "activation statistics of a 10-layer tanh net for four initializations",
    "optimizers": "SGD, momentum, Nesterov, AdaGrad, RMSprop and Adam racing on 2-D surfaces",
    "schedules": "every learning-rate schedule Ember has, over the same steps",
    "dropout": "inverted dropout vs test-time scaling, and dropout as an ensemble",
    "batchnorm": "training curves with and without batch norm at several learning rates",
    "losses": "SVM vs softmax loss as the correct class's score grows",
    "regularization": "decision boundaries on a spiral for L2 strength 0.001, 0.01 and 0.1",
}


@dataclass
class Lab:
    """A lab's outcome: a title, a short text (paragraphs), its pictures (caption -> path), its numbers."""

    title: str
    text: list[str]
    pictures: dict[str, Path]
    numbers: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # other outputs (an animation)


def run_lab(name: str, out: Path, tiny: bool = False, echo: Callable[[str], Any] = lambda line: None) -> Path:
    """Run lab ``name`` into ``out/name``; returns its page."""
    module = importlib.import_module(f"ember.viz.labs.{name}")
    folder = Path(out) / name
    lab: Lab = module.run(folder, tiny)
    for line in lab.text:
        echo(line)
    atomic_write(folder / "numbers.json", json.dumps(lab.numbers, indent=2) + "\n")
    body = [f"<h1>Ember lab: {html.escape(lab.title)}</h1>"]
    body += [f"<p>{html.escape(paragraph)}</p>" for paragraph in lab.text]
    body += [section(caption, "", path) for caption, path in lab.pictures.items()]
    body += [f'<p><a href="{html.escape(path.name)}">{html.escape(path.name)}</a></p>' for path in lab.files]
    return atomic_write(folder / "index.html", html_page(f"Ember lab: {lab.title}", "\n".join(body)))
