"""``tune``: the lectures' whole recipe for hyperparameters in one call (``ember tune``).

"Choosing hyperparameters", steps 1 to 6, each done by what Ember has for it:

1. check the initial loss                ``ember.train.doctor`` (``initial-loss``)
2. overfit a small sample                ``ember.train.doctor`` (``overfit``)
3. find a learning rate that makes the loss go down: the range test, verified by short runs (``lr-find``)
4. coarse search, short runs             stage 1 of a coarse-to-fine search (``ember.train.search``);
                                         unless the space names it, the learning rate is searched on a log
                                         scale a decade either side of step 3's rate ("around what worked
                                         from step 3"), with weight decay on a log scale 1e-6 .. 1e-3
5. refined search, longer runs           stage 2: the ranges narrowed around stage 1's best trials
6. look at the loss curves               the search page's curves of the top trials; then the best
                                         configuration trained longer and tested (``--then-train``)

A flagged check stops the recipe before any search (the lectures: fix the setup first), unless the checks
are skipped; a range test flagged only because the configured rate is off does not stop it (the search
replaces that rate). A tune directory holds ``doctor/`` (the checks' report), ``search/`` (an ordinary
search directory: ``ember search resume TUNE/search`` continues it, final run included) and ``index.html``,
the page that links them.
"""

from __future__ import annotations

import dataclasses
import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ember.atomic import atomic_write, writing
from ember.errors import EmberError
from ember.train.config import merge, resolve_config
from ember.train.rundir import contents
from ember.train.search.runner import SearchResult, check, start
from ember.train.search.settings import SearchSettings
from ember.train.search.space import Param, Space
from ember.train.search.study import SearchError, require_optuna
from ember.viz.page import card, html_page

TUNE_CHECKS = ("initial-loss", "overfit", "lr-find")  # the lectures' steps 1-3
LR_FIELD, WEIGHT_DECAY_FIELD = "optimizer.lr", "optimizer.weight_decay"
LR_SPAN = 10.0  # step 4's learning rates: step 3's rate divided and multiplied by this
WEIGHT_DECAY_RANGE = (1e-6, 1e-3)
PAGE = "index.html"


class SetupFlagged(EmberError, RuntimeError):
    """A check of steps 1-3 failed: searching hyperparameters on a broken setup would waste the runs."""

    exit_status = 4  # as ember doctor's for a flagged check


@dataclass
class TuneResult:
    directory: Path
    doctor: Any  # the DoctorReport of steps 1-3 (None when skipped)
    search: SearchResult | None
    page: Path
    seconds: float


def _stdout(message: str) -> None:
    print(message, flush=True)


def default_space(space: Space, lr: float | None) -> Space:
    """``space`` with step 4's learning rate and weight decay ranges added where it does not name them."""
    names = {param.name for param in space}
    added = []
    if LR_FIELD not in names and lr is not None:
        added.append(Param(LR_FIELD, "log", lr / LR_SPAN, lr * LR_SPAN))
    if WEIGHT_DECAY_FIELD not in names:
        added.append(Param(WEIGHT_DECAY_FIELD, "log", *WEIGHT_DECAY_RANGE))
    return added + list(space)


def blocking(report: Any) -> list[Any]:
    """The flagged findings that stop the recipe: all but a range test that found a rate (its flag is about
    the configured rate, which the search replaces by step 3's)."""
    from ember.train.doctor import RangeTest

    return [
        finding
        for finding in report.flagged
        if not (isinstance(finding, RangeTest) and finding.verified_lr is not None)
    ]


def _directory(base_raw: dict[str, Any]) -> Path:
    """A new (or empty) tune directory: OUTPUT/NAME, by default OUTPUT/tune-DATASET-MODEL-TIME."""
    base = resolve_config(base_raw)
    name = base.name or f"tune-{base.dataset}-{base.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    directory = Path(base.output) / name
    if directory.exists() and contents(directory):
        raise SearchError(
            f"{directory} is not empty: choose another --name (a stopped tune's search continues with "
            f"'ember search resume {directory / 'search'}')"
        ) from None
    with writing(directory):
        directory.mkdir(parents=True, exist_ok=True)
    return directory


def tune(
    base_raw: dict[str, Any],
    space: Space,
    settings: SearchSettings,
    echo: Callable[[str], None] = _stdout,
    checks: bool = True,
    doctor_options: Any = None,
) -> TuneResult:
    """Steps 1-6 on the training configuration ``base_raw`` (a raw mapping); ``space`` may be empty.

    ``settings`` are the search's; its strategy is coarse-to-fine (two stages unless given more) and the
    best configuration is trained longer. Raises ``SetupFlagged`` when a check of steps 1-3 fails.
    """
    from ember.train.doctor import RangeTest, doctor
    from ember.train.run import build

    started = time.time()
    require_optuna()  # before the checks' minute, not after it
    settings = dataclasses.replace(settings, strategy="coarse-to-fine", then_train=True)
    config = resolve_config(base_raw)
    check(base_raw, default_space(space, config.optimizer.lr), settings)  # all of it, before anything runs
    directory = _directory(base_raw)
    report, lr = None, config.optimizer.lr
    if checks:
        echo("steps 1-3: the initial loss, overfitting a small sample, the learning-rate range test")
        pieces = build(config, can_download=True)
        report = doctor(config, TUNE_CHECKS, directory / "doctor", echo, doctor_options, pieces=pieces)
        stopping = blocking(report)
        if stopping:
            page = write_page(directory)
            flagged = ", ".join(finding.check for finding in stopping)
            raise SetupFlagged(
                f"steps 1-3 flagged {flagged}: fix the setup before searching (see {report.page or page}), "
                "or pass --skip-checks"
            )
        range_test = next((found for found in report.findings if isinstance(found, RangeTest)), None)
        lr = (range_test.verified_lr if range_test is not None else None) or lr
        echo(f"step 3's learning rate: {lr:.3g}")
    search_raw = merge(base_raw, {"output": str(directory), "name": "search"})
    echo("steps 4-6: coarse search, refined search, the best trained longer")
    write_page(directory, searching=True)  # a stopped tune has its page too, saying how to continue
    result = start(search_raw, default_space(space, lr), settings, echo)
    page = write_page(directory, result)
    echo(f"tune report: {page}")
    return TuneResult(directory, report, result, page, time.time() - started)


def _link(directory: Path, target: Path | None, text: str) -> str:
    if target is None or not target.exists():
        return html.escape(text)
    return f'<a href="{html.escape(str(target.relative_to(directory)))}">{html.escape(text)}</a>'


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file Ember wrote, or None when it is missing or unreadable (the page then says less)."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def write_page(directory: Path, result: SearchResult | None = None, searching: bool = False) -> Path:
    """``TUNE/index.html``: the checks' verdicts, the search's outcome, the final run, each linked.

    Built from what the tune directory holds (``doctor/findings.json``, the search's results, the final
    run's ``summary.json``), so a search continued by ``ember search resume TUNE/search`` rewrites it
    (``refresh_page``). ``result``: the search just run, if any (its best trial); without it, when
    ``searching`` or the search directory exists, the page says how to continue an unfinished search."""
    cards, items = [], []
    doctor = _read_json(directory / "doctor" / "findings.json")
    if doctor is not None:
        findings = doctor.get("findings", [])
        passed = sum(bool(finding.get("ok")) for finding in findings)
        cards.append(card(f"{passed} of {len(findings)}", "checks passed (steps 1-3)"))
        lines = "".join(  # "ok   initial loss: ...", "FLAG overfit a small sample: ..."
            f"<li>{'<b>' * (not finding.get('ok'))}{'ok  ' if finding.get('ok') else 'FLAG'} "
            f"{html.escape(str(finding.get('check')))}: {html.escape(str(finding.get('message')))}"
            f"{'</b>' * (not finding.get('ok'))}</li>"
            for finding in findings
        )
        link = _link(directory, directory / "doctor" / "index.html", "the doctor's report")
        items.append(f"<h2>Steps 1-3: the setup</h2><ul>{lines}</ul><p>{link}</p>")
    search = directory / "search"
    best = result.best if result is not None else None
    if best is not None:
        cards.append(card(f"{100 * (best.value or 0):.2f}%", "best validation accuracy"))
        values = ", ".join(f"{name} = {value:.4g}" if isinstance(value, float) else f"{name} = {value}"
                           for name, value in best.params.items())  # fmt: skip
        items.append(
            f"<h2>Steps 4-6: the search</h2><p>best: trial {best.trial} of stage {best.stage}: "
            f"{html.escape(values)}. {_link(directory, search / 'report' / PAGE, 'The search page')} "
            f"(stages, plots, every trial); {_link(directory, search / 'results.csv', 'results.csv')}.</p>"
        )
    elif searching or (search / "search.json").is_file():
        items.append(
            "<h2>Steps 4-6: the search</h2><p>Not finished: <code>ember search resume "
            f"{html.escape(str(search))}</code> continues it and rewrites this page.</p>"
        )
    summary = _read_json(search / "final" / "summary.json")
    test = (summary or {}).get("test") or {}
    if summary is not None:
        if isinstance(test.get("accuracy"), int | float):
            cards.append(card(f"{100 * test['accuracy']:.2f}%", "test accuracy, the best trained longer"))
        report_page = search / "final" / "report" / PAGE
        items.append(
            f"<h2>The best, trained longer</h2><p>{_link(directory, report_page, 'its run report')}</p>"
        )
    body = (
        "<h1>ember tune</h1><p>The lectures' recipe: check the setup, search coarse then fine, look at the "
        f"curves, train the best longer.</p><div class='cards'>{''.join(cards)}</div>{''.join(items)}"
    )
    return atomic_write(directory / PAGE, html_page("ember tune", body))


def refresh_page(search_directory: Path, result: SearchResult) -> Path | None:
    """Rewrite the tune page around ``search_directory`` when it is a tune's ``search/`` (after ``ember
    search resume`` or ``report``); None when it is a search of its own."""
    search = Path(search_directory).resolve()
    directory = search.parent
    page = directory / PAGE
    if search.name != "search" or not page.is_file():
        return None
    if "<title>ember tune</title>" not in page.read_text(errors="replace"):
        return None  # someone else's page: never overwritten
    return write_page(directory, result)
