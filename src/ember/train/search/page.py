"""The search page, ``SEARCH/report/index.html``: one self-contained file in the run report's style.

The outcome first (the best configuration, its validation accuracy, the final run's test accuracy if the
best was trained longer), then each stage's budget and ranges, the plots (``ember.train.search.plots``) and
the table of every trial, each linked to its own run report.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from ember.atomic import atomic_write
from ember.train.search import plots
from ember.train.search import study as studies
from ember.train.search.results import Row, best, format_value, param_names, tally
from ember.train.search.space import Param
from ember.viz.page import card, embedded_image, html_page

CAPTIONS = {
    "objective": (
        "Validation accuracy against each hyperparameter",
        "On the hyperparameter's own scale. Where the best trials crowd an edge of the range, the optimum "
        "may lie beyond it: widen the range. Shaded: the later stages' narrowed ranges.",
    ),
    "history": ("Optimization history", "Each trial's best validation accuracy, and the best so far."),
    "parallel": (
        "Parallel coordinates",
        "A line per trial through its values (each axis the original range, on its scale), coloured by "
        "its accuracy.",
    ),
    "curves": (
        "Loss curves of the top trials",
        "The lectures' step 6: look at the curves before training the best longer. A validation loss that "
        "rises at the end means overfitting (more regularization); a loss still falling, more epochs.",
    ),
}
TRIAL_COLUMNS = ("val acc", "epochs", "state", "time", "worker", "run", "note")
STYLE = """
td.params { text-align: left; font-family: monospace; font-size: 0.9em; }
tr.best td { background: #fff6d5; }
"""


def _href(directory: Path, target: Path) -> str:
    """A link's address from ``SEARCH/report/``: relative inside the search, else a file URI."""
    target = target.resolve()
    if directory.resolve() in target.parents:
        return os.path.relpath(target, directory.resolve() / "report")
    return target.as_uri()


def _run_link(directory: Path, run: str, text: str) -> str:
    """A link to a run's report, or the run's name if it has no report."""
    if not run:
        return ""
    report = Path(run) / "report" / "index.html"
    if not report.exists():
        return html.escape(text)
    return f'<a href="{html.escape(_href(directory, report))}">{html.escape(text)}</a>'


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def _trial_table(directory: Path, rows: list[Row], names: list[str], chosen: Row | None) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in ("stage", "trial", *names, *TRIAL_COLUMNS))
    lines = []
    for row in sorted(rows, key=lambda row: (row.stage, not row.ranked, -(row.value or 0), row.trial)):
        values = [html.escape(format_value(row.params.get(name, ""))) for name in names]
        time_text = "" if row.seconds is None else f"{row.seconds:.0f} s"
        run = _run_link(directory, row.directory, Path(row.directory).name)
        note = f'<span class="note">{html.escape(row.note)}</span>'
        cells = [str(row.stage), str(row.trial), *values, _percent(row.value), str(row.epochs), row.label]
        cells += [time_text, html.escape(str(row.worker)), run, note]
        chosen_one = chosen is not None and (row.stage, row.trial) == (chosen.stage, chosen.trial)
        css = ' class="best"' if chosen_one else ""
        lines.append(f"<tr{css}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def _stage_table(stages: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{name}</th>" for name in ("stage", "trials", "epochs"))
    head += "<th class='name'>ranges</th><th class='name'>narrowed around</th>"
    lines = []
    for info in stages:
        ranges = "<br>".join(html.escape(Param.from_dict(item).describe()) for item in info["space"])
        around = ", ".join(f"trial {n}" for n in info.get("around", [])) or "the ranges given"
        lines.append(
            f"<tr><td>{info['stage']}</td><td>{info['trials']}</td><td>{info['epochs']}</td>"
            f"<td class='params'>{ranges}</td><td class='name'>{html.escape(around)}</td></tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def _stages(storage: Any, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Each created stage's budget and ranges (``ember_stage``)."""
    stages = []
    for stage in range(1, len(plan["stages"]) + 1):
        study = studies.find_study(storage, studies.stage_name(plan["study"], stage))
        if study is not None and studies.STAGE in study.user_attrs:
            stages.append(dict(study.user_attrs[studies.STAGE]))
    return stages


def _outcome(directory: Path, rows: list[Row], chosen: Row | None) -> tuple[list[str], str]:
    """(the cards, the best configuration's section)."""
    count, counted = tally(rows).split(" ", 1)
    cards = [
        card(_percent(chosen.value) if chosen else "none yet", "best validation accuracy"),
        card(count, counted),
        card(f"{sum(row.seconds or 0 for row in rows) / 60:.1f} min", "trial time, all workers"),
    ]
    if chosen is None:
        return cards, ""
    values = ", ".join(f"{name} = {format_value(value)}" for name, value in chosen.params.items())
    link = _run_link(directory, chosen.directory, "its run report")
    section = (
        f"<h2>Best configuration</h2><p>Trial {chosen.trial} (stage {chosen.stage}): "
        f"<code>{html.escape(values)}</code>, validation accuracy {_percent(chosen.value)} after "
        f"{chosen.epochs} epochs ({link}).</p>"
    )
    final = directory / "final" / "summary.json"
    if final.exists():
        summary = json.loads(final.read_text())
        accuracy, epochs = summary.get("test", {}).get("accuracy"), summary.get("epochs")
        cards.insert(1, card(_percent(accuracy), f"test accuracy, the best trained {epochs} epochs"))
        link = _run_link(directory, str(directory / "final"), "its report")
        section += (
            f"<p>The best configuration trained for {epochs} epochs: test accuracy {_percent(accuracy)} "
            f"({link}).</p>"
        )
    return cards, section


def write_page(directory: Path, storage: Any, plan: dict[str, Any], rows: list[Row]) -> Path:
    """Draw the plots and write ``report/index.html``; returns the page's path."""
    out = directory / "report"
    space = [Param.from_dict(item) for item in plan["space"]]
    stages = _stages(storage, plan)
    ranges = {info["stage"]: [Param.from_dict(item) for item in info["space"]] for info in stages}
    pictures = {key: out / f"{key}.png" for key in CAPTIONS}
    plots.plot_objective(rows, space, pictures["objective"], ranges)
    plots.plot_history(rows, pictures["history"])
    plots.plot_parallel(rows, space, pictures["parallel"])
    plots.plot_top_curves(rows, pictures["curves"])

    chosen = best(rows)
    settings, base = plan["settings"], plan["base"]
    cards, outcome = _outcome(directory, rows, chosen)
    title = f"{plan['study']}: {base.get('model', 'small_cnn')} on {base.get('dataset', 'fashion-mnist')}"
    how = (
        f"strategy {settings['strategy']}, pruner {settings['pruner']}, {len(plan['stages'])} stage(s); "
        "trials compared on the validation split (the test split is not looked at)"
    )
    sections = [
        f"<h1>Ember hyperparameter search: {html.escape(title)}</h1>",
        f'<p class="subtitle">{html.escape(how)}.</p>',
        f'<div class="cards">{"".join(cards)}</div>',
        outcome,
        "<h2>Stages</h2>" + _stage_table(stages),
    ]
    for info in stages:
        for note in info.get("edges", []):
            text = f"Stage {info['stage']}: {note}; widen the range and search again."
            sections.append(f'<p class="note">{html.escape(text)}</p>')
    for key, (heading, note) in CAPTIONS.items():
        image = embedded_image(pictures[key], heading)
        sections.append(f"<h2>{heading}</h2><p class='note'>{html.escape(note)}</p>{image}")
    sections.append("<h2>Trials</h2>" + _trial_table(directory, rows, param_names(plan), chosen))
    sections.append(f"<h2>Base configuration</h2><pre>{html.escape(json.dumps(base, indent=2))}</pre>")
    return atomic_write(out / "index.html", html_page(f"Ember search: {title}", "\n".join(sections), STYLE))
