"""``ember search`` from start to report: the search directory, the stages, the local workers, the results.

``start`` checks everything first (the training configuration, every end of every range, the settings,
the data and the model: ``run.build``), then makes the search directory (new or empty, locked like a run
directory), creates the study and its tables (before any worker starts), and ``drive``s the stages: for
each, the study with its trials queued (coarse-to-fine: the ranges narrowed around the previous stage's
best trials), the workers (in this process for one, else child processes), a line per finished trial,
then ``results.csv`` and the page. ``resume`` picks a search up where it stopped: finished trials are kept,
stopped ones continue from their checkpoints. A search directory::

    search.json          the storage URL and the study's name (what resume and report read)
    study.db             the SQLite storage (unless --storage names another)
    trials/trial-NNNN/   each trial's run directory (stage-S/ for coarse-to-fine)
    logs/worker-N.log    what each local worker's trials printed
    results.csv          one line per trial (results.table's columns)
    report/index.html    the page and its plots (ember.train.search.page)
    final/               --then-train: the best configuration trained longer
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ember.atomic import atomic_write, writing
from ember.train.config import ConfigError, merge, resolve_config
from ember.train.rundir import RunLock, contents
from ember.train.search import results
from ember.train.search import study as studies
from ember.train.search.settings import (
    SearchSettings,
    Stage,
    check_settings,
    final_epochs,
    plan_stages,
    top_k,
)
from ember.train.search.space import Param, Space, apply, at_edge, check_space, grid_values, narrow
from ember.train.search.worker import poll_seconds, work

SEARCH_FILE = "search.json"
STORAGE_ENV = "EMBER_SEARCH_STORAGE"  # how local workers get the URL (not on their command line)
PLAN_VERSION = 1


def _stdout(message: str) -> None:
    print(message, flush=True)


@dataclass
class SearchResult:
    directory: Path
    rows: list[results.Row]
    best: results.Row | None
    page: Path | None
    seconds: float
    final: Any = None  # the final run's RunResult (--then-train)


# ----------------------------------------------------------------------------------------------------------
# Starting
def check(base_raw: dict[str, Any], space: Space, settings: SearchSettings) -> tuple[Any, list[Stage]]:
    """Check the whole search before anything runs: (the base configuration, the stages)."""
    base = resolve_config(base_raw)
    problems: list[tuple[str, str]] = []
    check_settings(settings, problems)
    if base.val_size == 0:
        problems.append(("val_size", "a search compares trials on a validation split: val_size must be > 0"))
    if problems:
        raise ConfigError(problems)
    check_space(space, base_raw)
    grid = None
    if settings.strategy == "grid":
        grid = 1
        for param in space:
            grid *= len(grid_values(param, settings.grid_points))
    return base, plan_stages(settings, base.total_epochs, grid)


def _claim(directory: Path) -> RunLock:
    """The lock of a new or empty search directory."""
    with writing(directory):
        directory.mkdir(parents=True, exist_ok=True)
    lock = RunLock.acquire(directory)
    if contents(directory):
        lock.release()
        if (directory / SEARCH_FILE).exists():
            raise studies.SearchError(
                f"{directory} already holds a search: continue it with 'ember search resume {directory}', "
                "or choose another --name"
            )
        raise studies.SearchError(
            f"{directory} is not empty: choose another --name, or delete the folder first"
        )
    return lock


def start(
    base_raw: dict[str, Any], space: Space, settings: SearchSettings, echo: Callable[[str], None] = _stdout
) -> SearchResult:
    """A new search of ``space`` around the training configuration ``base_raw`` (a raw mapping)."""
    from ember.train import run

    started = time.time()
    studies.require_optuna()
    base, stages = check(base_raw, space, settings)
    if base.data_root:
        base_raw = merge(base_raw, {"data_root": run.absolute(base.data_root)})
        base.data_root = run.absolute(base.data_root)
    run.build(base, can_download=True)  # the data and the model exist and fit
    name = base.name or f"search-{base.dataset}-{base.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    directory = Path(base.output) / name
    study_name = settings.study or name
    url = absolute_sqlite(settings.storage or f"sqlite:///{directory / 'study.db'}")
    if settings.storage not in (None, "memory"):  # a shared database: the name must be free there
        storage = studies.open_storage(url, settings.heartbeat, create_tables=True)
        if studies.find_study(storage, study_name) is not None:
            raise studies.taken(study_name)
    plan = {
        "version": PLAN_VERSION,
        "study": study_name,
        "base": {key: value for key, value in base_raw.items() if key not in ("name", "output")},
        "space": [param.to_dict() for param in space],
        "settings": settings.to_dict(),
        "stages": [[stage.trials, stage.epochs] for stage in stages],
        "seed": base.seed,
    }
    with _claim(directory):
        storage = studies.open_storage(url, settings.heartbeat, create_tables=True)
        studies.create_plan_study(storage, study_name, plan)
        record = {"storage": url, "study": study_name, "heartbeat": settings.heartbeat}
        atomic_write(directory / SEARCH_FILE, json.dumps(record, indent=2) + "\n")
        echo(f"search directory: {directory} (study '{study_name}' in {studies.redact(url)})")
        return drive(directory, storage, url, plan, settings.workers, echo, started)


def resume(
    directory: str | Path, workers: int | None = None, echo: Callable[[str], None] = _stdout
) -> SearchResult:
    """Continue the search in ``directory``: its finished trials are kept, stopped ones continue."""
    started = time.time()
    directory = Path(directory)
    record = read_record(directory)
    if record["storage"] == "memory":
        raise studies.SearchError(f"{directory}: an in-memory search cannot be resumed (its study is gone)")
    with RunLock.acquire(directory):
        storage = studies.open_storage(record["storage"], record.get("heartbeat", 10))
        plan = studies.read_plan(storage, record["study"])
        chosen = plan["settings"]["workers"] if workers is None else workers
        echo(f"resuming the search in {directory} (study '{record['study']}')")
        for stage in range(1, len(plan["stages"]) + 1):
            study = studies.find_study(storage, studies.stage_name(record["study"], stage))
            for number in studies.queue_lost_retries(study) if study is not None else []:
                echo(f"  trial {number} of stage {stage}: its retry was lost with its worker; queued now")
        return drive(directory, storage, record["storage"], plan, chosen, echo, started)


def report(directory: Path, echo: Callable[[str], None] = _stdout) -> SearchResult:
    """Rewrite ``results.csv`` and the page of the search in ``directory`` from its study; print the table."""
    record = read_record(directory)
    storage = studies.open_storage(record["storage"], record.get("heartbeat", 10))
    plan = studies.read_plan(storage, record["study"])
    rows, page = write_results(directory, storage, plan)
    outcome = SearchResult(directory, rows, results.best(rows), page, 0.0)
    echo(results.table(rows, results.param_names(plan)))
    echo(f"report: {page}")
    return outcome


def absolute_sqlite(url: str) -> str:
    """A SQLite URL with an absolute path (workers and a later resume may start elsewhere)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix + ":memory:":
        return url
    return prefix + str(Path(url[len(prefix) :]).expanduser().resolve())


def read_record(directory: Path) -> dict[str, Any]:
    path = directory / SEARCH_FILE
    if not path.is_file():
        raise studies.SearchError(f"{directory} is not a search directory (no {SEARCH_FILE} in it)")
    return dict(json.loads(path.read_text()))


# ----------------------------------------------------------------------------------------------------------
# The stages
def stage_plan(plan: dict[str, Any], stage: int) -> Stage:
    trials, epochs = plan["stages"][stage - 1]
    return Stage(int(trials), int(epochs))


def next_space(storage: Any, plan: dict[str, Any], stage: int) -> tuple[Space, dict[str, Any]]:
    """Stage ``stage``'s ranges, narrowed around the best trials of the stage before (``space.narrow``)."""
    original = [Param.from_dict(item) for item in plan["space"]]
    if stage == 1:
        return original, {}
    previous = studies.find_study(storage, studies.stage_name(plan["study"], stage - 1))
    assert previous is not None
    rows = [row for row in results.stage_rows(previous, stage - 1) if row.ranked]
    if not rows:
        raise studies.SearchError(f"stage {stage - 1} has no finished trial to narrow the ranges around")
    rows.sort(key=lambda row: (row.state == "COMPLETE", row.value), reverse=True)
    settings = SearchSettings(**plan["settings"])
    top = rows[: top_k(settings, len(rows))]
    space, edges = [], []
    for param, first in zip(studies.stage_space(previous), original, strict=True):
        values = [row.params[param.name] for row in top]
        space.append(narrow(param, first, values, settings.widen))
        edge = at_edge(param, first, values)
        if edge:
            edges.append(
                f"the best {param.name} ({results.format_value(values[0])}) is at the {edge} end of its range"
            )
    return space, {"around": [row.trial for row in top], "edges": edges}


def drive(
    directory: Path,
    storage: Any,
    url: str,
    plan: dict[str, Any],
    workers: int,
    echo: Callable[[str], None],
    started: float,
) -> SearchResult:
    """Run every stage not yet finished, then write the results (and train the best, if asked)."""
    settings = plan["settings"]
    count = len(plan["stages"])
    try:
        for stage in range(1, count + 1):
            budget = stage_plan(plan, stage)
            study = studies.find_study(storage, studies.stage_name(plan["study"], stage))
            if study is None or not study.user_attrs.get(studies.READY):
                space, extra = next_space(storage, plan, stage)
                grid = settings["grid_points"] if settings["strategy"] == "grid" else 0
                study = studies.ensure_stage(
                    storage, plan["study"], stage, space, budget.trials, budget.epochs, grid, extra
                )
            if studies.finished(study):
                continue
            info = study.user_attrs[studies.STAGE]
            title = f"stage {stage} of {count}: " if count > 1 else ""
            trials, epochs = results.plural(budget.trials, "trial"), results.plural(budget.epochs, "epoch")
            how = f"{settings['strategy']}, pruner {settings['pruner']}, {results.plural(workers, 'worker')}"
            echo(f"{title}{trials} of {epochs}, {how}")
            for param in studies.stage_space(study):
                echo(f"  {param.describe()}")
            if info.get("around"):
                echo(f"  (narrowed around trials {', '.join(map(str, info['around']))} of stage {stage - 1})")
            for note in info.get("edges", []):
                echo(f"  note: {note}: widen it and search again")
            run_workers(directory, storage, url, plan, stage, workers, echo)
            write_results(directory, storage, plan)
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            write_results(directory, storage, plan)
        echo(f"search stopped: continue it with 'ember search resume {directory}' (finished trials are kept)")
        raise
    rows, page = write_results(directory, storage, plan)
    outcome = SearchResult(directory, rows, results.best(rows), page, time.time() - started)
    echo("")
    echo(results.table(rows, results.param_names(plan), limit=20))
    say_outcome(outcome, echo)
    if settings["then_train"] and outcome.best is not None:
        stages = [stage_plan(plan, s) for s in range(1, count + 1)]
        outcome.final = train_final(
            directory, plan, outcome.best, final_epochs(SearchSettings(**settings), stages), echo
        )
        outcome.page = write_results(directory, storage, plan)[1]
    return outcome


def say_outcome(outcome: SearchResult, echo: Callable[[str], None]) -> None:
    echo(f"{results.tally(outcome.rows)}; {outcome.seconds / 60:.1f} min")
    best = outcome.best
    if best is not None:
        values = ", ".join(f"{name}={results.format_value(value)}" for name, value in best.params.items())
        accuracy = f"val accuracy {100 * (best.value or 0):.2f}%"
        echo(f"best: trial {best.trial} (stage {best.stage}): {values}: {accuracy}")
        echo(f"      its run: {best.directory}")
    if outcome.page is not None:
        echo(f"report: {outcome.page}")


def write_results(
    directory: Path, storage: Any, plan: dict[str, Any]
) -> tuple[list[results.Row], Path | None]:
    """``results.csv`` and the page, from the studies as they are now."""
    rows = results.all_rows(storage, plan)
    results.write_csv(rows, results.param_names(plan), directory / "results.csv")
    try:
        from ember.train.search.page import write_page
    except ImportError:  # pragma: no cover - matplotlib is missing: the table and the CSV are enough
        return rows, None
    return rows, write_page(directory, storage, plan, rows)


# ----------------------------------------------------------------------------------------------------------
# Workers
class Announcer(threading.Thread):
    """Prints a line for each trial of the stage as it ends (whichever worker ran it)."""

    def __init__(self, storage: Any, plan: dict[str, Any], stage: int, echo: Callable[[str], None]) -> None:
        super().__init__(daemon=True)
        self.storage, self.plan, self.stage, self.echo = storage, plan, stage, echo
        self.stopping = threading.Event()
        self.said: set[int] = set()

    def tick(self) -> None:
        study = studies.find_study(self.storage, studies.stage_name(self.plan["study"], self.stage))
        if study is None:
            return
        for row in results.stage_rows(study, self.stage):
            if row.state in studies.FINAL and row.trial not in self.said:
                self.said.add(row.trial)
                self.echo(results.trial_line(row))

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            with contextlib.suppress(Exception):  # a busy database: the next tick says it
                self.tick()

    def finish(self) -> None:
        self.stopping.set()
        self.join()
        self.tick()


@contextlib.contextmanager
def announcing(storage: Any, plan: dict[str, Any], stage: int, echo: Callable[[str], None]) -> Iterator[None]:
    announcer = Announcer(storage, plan, stage, echo)
    announcer.start()
    try:
        yield
    finally:
        announcer.finish()


def run_workers(
    directory: Path,
    storage: Any,
    url: str,
    plan: dict[str, Any],
    stage: int,
    workers: int,
    echo: Callable[[str], None],
) -> None:
    """The stage's trials, run by ``workers`` local workers (0: by workers elsewhere), until it is over."""
    logs = directory / "logs"
    with writing(logs):
        logs.mkdir(exist_ok=True)
    with announcing(storage, plan, stage, echo):
        if workers == 0:
            join = f"ember search worker --storage {studies.redact(url)} --study {plan['study']}"
            echo(f"waiting for workers: {join}")
            study = studies.find_study(storage, studies.stage_name(plan["study"], stage))
            while not studies.finished(study):
                time.sleep(poll_seconds(plan))
        elif workers == 1:  # in this process: Ctrl-C reaches the trial as it reaches ember train
            with open(logs / "worker-1.log", "a", encoding="utf-8") as stream:
                work(storage, plan, 1, directory, [stage], stream)
        else:
            _children(directory, url, plan, stage, workers, echo)
    study = studies.find_study(storage, studies.stage_name(plan["study"], stage))
    if not studies.finished(study):
        raise studies.SearchError(
            f"stage {stage} did not finish: its workers stopped (see {logs}); "
            f"continue with 'ember search resume {directory}'"
        )


def worker_command(plan: dict[str, Any], stage: int, worker: int, directory: Path) -> list[str]:
    return [
        sys.executable, "-m", "ember.cli", "search", "worker",
        "--study", plan["study"], "--stage", str(stage), "--worker", str(worker), "--output", str(directory),
    ]  # fmt: skip


def _children(
    directory: Path, url: str, plan: dict[str, Any], stage: int, workers: int, echo: Callable[[str], None]
) -> None:
    """``workers`` child processes, each in its own process group: Ctrl-C here is passed on once to each,
    and they stop after the step, save and queue their trial's retry."""
    env = dict(os.environ)
    env[STORAGE_ENV] = url
    threads = str(max(1, (os.cpu_count() or 1) // workers))  # the cores shared, not oversubscribed
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, threads)
    children: list[tuple[int, subprocess.Popen[bytes], Path]] = []
    for worker in range(1, workers + 1):
        log = directory / "logs" / f"worker-{worker}.log"
        with open(log, "ab") as stream:
            child = subprocess.Popen(
                worker_command(plan, stage, worker, directory),
                stdout=stream,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        children.append((worker, child, log))
    try:
        while any(child.poll() is None for _, child, _ in children):
            time.sleep(0.5)
    except KeyboardInterrupt as stop:
        number = signal.SIGTERM if type(stop).__name__ == "Terminated" else signal.SIGINT
        for _, child, _ in children:
            if child.poll() is None:
                child.send_signal(number)
        for _, child, _ in children:
            child.wait()
        raise
    for worker, child, log in children:
        if child.returncode not in (0, 130, 143):
            echo(f"worker {worker} stopped (exit status {child.returncode}): {last_line(log)}")


def last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


# ----------------------------------------------------------------------------------------------------------
# The best configuration, trained longer
def train_final(
    directory: Path, plan: dict[str, Any], best: results.Row, epochs: int, echo: Callable[[str], None]
) -> Any:
    """The lectures' last step: the best trial's configuration trained for ``epochs``, then tested."""
    from ember.train import run
    from ember.train.callbacks.checkpoint import LAST

    final = directory / "final"
    if (final / run.SUMMARY_FILE).exists():
        echo(f"the final run is done already: {final}")
        return None
    echo(f"\ntraining the best configuration (trial {best.trial}) for {epochs} epochs: {final}")
    if (final / "checkpoints" / LAST).exists():
        return run.resume(final, echo=echo)
    config = apply(plan["base"], {**best.params, "epochs": epochs, "output": str(directory), "name": "final"})
    return run.start(config, echo=echo)
