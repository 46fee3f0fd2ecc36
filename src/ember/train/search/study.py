"""Optuna underneath: storages, the studies of a search's stages, their queued trials, samplers, pruners.

This package is the only part of Ember that imports Optuna (``require_optuna``), so Ember works without it.

The budget is a queue. When a stage's study is created, one waiting trial is queued per trial of its
budget (``enqueue_trial``), numbered 0..N-1, each carrying its ``slot``: empty for random and TPE (the
sampler picks the values when a worker takes the trial), the grid point's values for a grid. A worker takes
the next waiting trial; the storage changes a trial from waiting to running for one worker only, so no two
workers run the same trial, no grid point runs twice and the budget is exact for any number of workers.
A worker that finds the queue empty while trials run elsewhere waits for them (one of them may yet be
retried). Should a worker create a trial when the last one was taken under it, that trial is marked
failed as ``unused`` at once and left out of every table.

Trials that do not finish are retried. A running trial records a heartbeat every ``heartbeat`` seconds; a
trial whose worker was killed (SIGKILL, a lost machine) misses three, and the next worker to look marks it
failed and queues a retry (Optuna's ``RetryHeartbeatStaleTrialCallback``); a trial stopped by Ctrl-C or
SIGTERM has its retry queued by its own worker, then is marked failed, on the way out. A retry has the trial's
values, slot and reports, and continues its run directory from the last checkpoint. Optuna fails a silent
trial first and queues its retry after: in between nothing waits or runs, so a stage is over only when, as
well, no such trial waits for its retry (``retries_due``); one whose retry was lost with the worker that
failed it gets it on ``ember search resume``.

Stage 1's study carries the plan (``ember_plan``: the base configuration, the space, the settings, the
stages); each stage's study its own ranges and budget (``ember_stage``) and, once its trials are queued,
``ember_ready``. Only the process that starts the search (``ember search``) creates studies and tables,
before any worker starts: concurrent table creation races in Optuna.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ember.atomic import writing
from ember.errors import EmberError
from ember.train.search.space import Param, Space, grid_values

PLAN, STAGE, READY = "ember_plan", "ember_stage", "ember_ready"
MAX_RETRIES = 3  # a trial whose worker keeps dying is given up after this many retries
FINAL = ("COMPLETE", "PRUNED", "FAIL")


class SearchError(EmberError, RuntimeError):
    """The search cannot go on as asked (storage unreachable, study missing or taken, worker failed)."""


def require_optuna() -> Any:
    """The ``optuna`` module, quiet (its per-trial log lines and warnings off), or a one-line error."""
    try:
        import optuna
    except ImportError:
        raise SearchError("ember search needs Optuna: pip install 'ember[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # Ember says what happened to each trial itself
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*reported.*already", module="optuna")
    return optuna


def redact(url: str) -> str:
    """A storage URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy can read: nothing to hide in it
        return url


def open_storage(url: str, heartbeat: int = 10, create_tables: bool = False) -> Any:
    """An Optuna storage: ``memory``, or a database URL (SQLite, PostgreSQL) with heartbeats and retries.

    ``create_tables``: only the process that starts a search makes the tables (workers must not race).
    """
    optuna = require_optuna()
    if url == "memory":
        return optuna.storages.InMemoryStorage()
    import sqlalchemy.exc

    engine: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):  # several writers wait for the file's lock instead of failing at once
        engine = {"connect_args": {"timeout": 120}}
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRIES, inherit_intermediate_values=True)
    kind = optuna.storages.RDBStorage
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        kind = functools.partial(serialized_sqlite(), lock=Path(url[len("sqlite:///") :] + ".lock"))
    try:
        return kind(
            url,
            engine_kwargs=engine,
            heartbeat_interval=heartbeat,
            grace_period=3 * heartbeat,
            heartbeat_stale_trial_callback=retry,
            skip_table_creation=not create_tables,
        )
    except ImportError:
        raise SearchError(
            f"{redact(url)}: PostgreSQL storages need psycopg2: pip install 'ember[postgres]'"
        ) from None
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SearchError(
            f"cannot open the study storage {redact(url)}: {reason} (is the server running, the URL right?)"
        ) from None


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` for the block (none where the system has no ``fcntl``)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: one worker per SQLite file there
        yield
        return
    with writing(path), open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@functools.cache
def serialized_sqlite() -> Any:
    """Optuna's ``RDBStorage`` for SQLite, with its two check-then-write steps made atomic between processes.

    SQLite has no row locks (``SELECT ... FOR UPDATE`` is dropped), and Python's sqlite3 reads outside a
    transaction, so two workers could both see a waiting trial and both take it, or give two new trials one
    number. Here taking a trial (any change of a trial's state) and making a trial hold an exclusive lock on
    a file beside the database, which every worker of this storage takes: one at a time, as PostgreSQL's row
    locks make them.
    """
    optuna = require_optuna()

    class SerializedSQLiteStorage(optuna.storages.RDBStorage):  # type: ignore[name-defined]
        def __init__(self, url: str, *, lock: Path, **options: Any) -> None:
            self.lock = lock
            super().__init__(url, **options)

        # Optuna's cache calls the private _create_new_trial directly (create_new_trial goes through it too);
        # its signature is checked by the tests against the pinned Optuna.
        def _create_new_trial(self, study_id: int, template_trial: Any = None) -> Any:
            with file_lock(self.lock):
                return super()._create_new_trial(study_id, template_trial)

        def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
            with file_lock(self.lock):
                return bool(super().set_trial_state_values(trial_id, state, values))

    return SerializedSQLiteStorage


def stage_name(study: str, stage: int) -> str:
    """Stage 1's study is the search's study; the later stages' are ``NAME:stage-2``, ..."""
    return study if stage == 1 else f"{study}:stage-{stage}"


def find_study(storage: Any, name: str) -> Any | None:
    """The study ``name`` in ``storage`` (no sampler or pruner: for reading), or None."""
    optuna = require_optuna()
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def create_plan_study(storage: Any, name: str, plan: Mapping[str, Any]) -> Any:
    """Stage 1's study, holding the plan; refused if the storage already has a study of that name."""
    optuna = require_optuna()
    try:
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        raise taken(name) from None
    study.set_user_attr(PLAN, dict(plan))
    return study


def taken(name: str) -> SearchError:
    return SearchError(
        f"the storage already has a study named '{name}': continue its search with 'ember search resume "
        "DIR', or pass --study ANOTHER-NAME"
    )


def read_plan(storage: Any, name: str) -> dict[str, Any]:
    study = find_study(storage, name)
    if study is None or PLAN not in study.user_attrs:
        raise SearchError(
            f"no ember search study named '{name}' in that storage (check --study and --storage)"
        )
    return dict(study.user_attrs[PLAN])


def ensure_stage(
    storage: Any,
    name: str,
    stage: int,
    space: Space,
    trials: int,
    epochs: int,
    grid: int = 0,
    extra: Mapping[str, Any] | None = None,
) -> Any:
    """The stage's study with its trials queued (queues what is missing if a start was cut short);
    ``extra`` is kept with the stage's ranges (which trials they were narrowed around)."""
    optuna = require_optuna()
    study_name = stage_name(name, stage)
    study = optuna.create_study(
        study_name=study_name, storage=storage, direction="maximize", load_if_exists=True
    )
    if study.user_attrs.get(READY):
        return study
    if STAGE not in study.user_attrs:
        study.set_user_attr(
            STAGE,
            {
                "stage": stage,
                "space": [p.to_dict() for p in space],
                "trials": trials,
                "epochs": epochs,
                **(extra or {}),
            },
        )
    queued = {trial.user_attrs.get("slot") for trial in study.get_trials(deepcopy=False)}
    points = grid_points(space, grid) if grid else []
    for slot in range(trials):
        if slot not in queued:
            study.enqueue_trial(points[slot] if points else {}, user_attrs={"slot": slot})
    study.set_user_attr(READY, True)
    return study


def grid_points(space: Space, points: int) -> list[dict[str, Any]]:
    """Every combination of ``points`` values per range (every choice), the first parameter slowest."""
    combos: list[dict[str, Any]] = [{}]
    for param in space:
        combos = [{**combo, param.name: value} for combo in combos for value in grid_values(param, points)]
    return combos


def stage_space(study: Any) -> Space:
    return [Param.from_dict(item) for item in study.user_attrs[STAGE]["space"]]


def sampler_for(strategy: str, seed: int) -> Any:
    """Each worker's sampler, seeded with its own seed (two workers never draw the same sequence)."""
    optuna = require_optuna()
    if strategy == "tpe":  # the "constant liar" keeps parallel workers from piling onto one point
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)  # random, coarse-to-fine; a grid's values are queued


def pruner_for(name: str, startup_trials: int) -> Any:
    optuna = require_optuna()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=0)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def trial_state(name: str) -> Any:
    """Optuna's ``TrialState`` of that name (``COMPLETE``, ``PRUNED``, ...)."""
    return require_optuna().trial.TrialState[name]


def counts(study: Any) -> dict[str, int]:
    """Trials per state name (``WAITING``, ``RUNNING``, ``COMPLETE``, ``PRUNED``, ``FAIL``)."""
    result: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        result[trial.state.name] = result.get(trial.state.name, 0) + 1
    return result


def finished(study: Any) -> bool:
    """Every queued trial has ended (nothing waits or runs) and no failed trial waits for its retry."""
    trials = study.get_trials(deepcopy=False)
    return not any(trial.state.name in ("WAITING", "RUNNING") for trial in trials) and not retries_due(trials)


def retries_due(trials: list[Any]) -> list[Any]:
    """The failed trials whose retry is due but not queued: those failed because their worker went silent.

    Every failure a worker reports itself says why (the ``stopped`` attribute, ``trial.objective``) or is
    an ``unused`` trial; a failed trial without a reason was failed by another worker for its missed
    heartbeats, and Optuna queues its retry a moment later (unless it has had ``MAX_RETRIES``). Until then
    the stage is not over: a coordinator that read it in that moment saw nothing waiting or running and
    stopped waiting.
    """
    retried = {number for trial in trials for number in trial.system_attrs.get("retry_history", [])}
    return [
        trial
        for trial in trials
        if trial.state.name == "FAIL"
        and trial.user_attrs.get("stopped") is None
        and not trial.user_attrs.get("unused")
        and trial.number not in retried
        and len(trial.system_attrs.get("retry_history", [])) < MAX_RETRIES
    ]


def queue_lost_retries(study: Any) -> list[int]:
    """Queue the retries that are due and were never queued (the worker that failed the trial died before
    queuing its retry); the numbers of the trials retried. Only ``ember search resume`` calls it: while
    workers run, a retry due is one being queued."""
    lost = [trial.number for trial in retries_due(study.get_trials(deepcopy=False))]
    for number in lost:
        retry(study, number)
    return lost


def fail_stale(study: Any) -> None:
    """Mark trials whose worker stopped sending heartbeats failed, and queue their retries."""
    optuna = require_optuna()
    optuna.storages.fail_stale_trials(study)


def retry(study: Any, number: int) -> None:
    """Queue a retry of trial ``number`` (stopped by a signal, or its disk full): its values, slot and
    reports, the same way the heartbeat's retries are made."""
    optuna = require_optuna()
    frozen = next(trial for trial in study.get_trials(deepcopy=True) if trial.number == number)
    optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRIES, inherit_intermediate_values=True)(
        study, frozen
    )


def worker_seed(seed: int, stage: int, worker: int) -> int:
    """A sampler seed of its own for each worker of each stage."""
    return (seed * 1_000_003 + stage * 1009 + worker) % 2**31


def default_worker_id() -> int:
    """A remote worker's number when none is given: different on every machine and process."""
    return int.from_bytes(os.urandom(3), "big")
