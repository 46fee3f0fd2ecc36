"""A worker: takes the queued trials of a study one after another until none is left, stage by stage.

Any number of workers, on any number of machines, can work on one study through a shared storage
(PostgreSQL): ``ember search --workers N`` starts N on this machine, ``ember search worker --storage URL
--study NAME`` joins from another. A worker's sampler has a seed of its own (``study.worker_seed``). Before
each trial it marks trials whose worker has died (no heartbeat) failed, which queues their retries; with
nothing queued but trials running elsewhere it waits for them, so a retry never goes unclaimed. A worker
that finishes a stage waits for the next one (created by ``ember search`` once the stage is over).
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ember.train.search import study as studies
from ember.train.search.trial import StopRequest, TrialDiverged, TrialSetup, UnusedTrial, objective


def stage_folder(plan: dict[str, Any], stage: int) -> str:
    """Where a stage's run directories go inside the search directory: ``trials``, or ``stage-S``."""
    return "trials" if len(plan["stages"]) == 1 else f"stage-{stage}"


def poll_seconds(plan: dict[str, Any]) -> float:
    return float(min(5, plan["settings"]["heartbeat"]))


def wait_for_stage(
    storage: Any, plan: dict[str, Any], stage: int, stop: StopRequest, echo: Any = None
) -> Any:
    """The stage's study once ``ember search`` has queued its trials."""
    name = studies.stage_name(plan["study"], stage)
    said = False
    while True:
        stop.check()
        study = studies.find_study(storage, name)
        if study is not None and study.user_attrs.get(studies.READY):
            return study
        if echo is not None and not said:
            echo(f"waiting for stage {stage} to be set up by 'ember search' ...")
            said = True
        time.sleep(poll_seconds(plan))


def work_stage(
    storage: Any,
    plan: dict[str, Any],
    stage: int,
    worker: int,
    output: Path,
    stream: TextIO | None = None,
    stop: StopRequest | None = None,
) -> int:
    """Run the stage's queued trials until none is left and none runs; returns how many this worker ran.

    A stop asked for (``stop``) ends it with ``TrialInterrupted``, between trials or at a trial's next step.
    """
    stop = stop or StopRequest()
    optuna = studies.require_optuna()
    settings = plan["settings"]
    study = optuna.load_study(
        study_name=studies.stage_name(plan["study"], stage),
        storage=storage,
        sampler=studies.sampler_for(settings["strategy"], studies.worker_seed(plan["seed"], stage, worker)),
        pruner=studies.pruner_for(settings["pruner"], settings["startup_trials"]),
    )
    info = study.user_attrs[studies.STAGE]
    setup = TrialSetup(
        study=study,
        base=plan["base"],
        space=studies.stage_space(study),
        epochs=int(info["epochs"]),
        output=output / stage_folder(plan, stage),
        pruner=settings["pruner"],
        worker=worker,
        report=bool(settings["report"]),
        stream=stream,
        stop=stop,
    )
    run_one = functools.partial(objective, setup)
    ran = 0
    while True:
        stop.check()
        studies.fail_stale(study)
        tally = studies.counts(study)
        if tally.get("WAITING"):
            study.optimize(run_one, n_trials=1, catch=(TrialDiverged, UnusedTrial))
            ran += 1
        elif tally.get("RUNNING"):
            time.sleep(poll_seconds(plan))
        else:
            return ran


def work(
    storage: Any,
    plan: dict[str, Any],
    worker: int,
    output: Path,
    stages: list[int] | None = None,
    stream: TextIO | None = None,
) -> int:
    """Work on ``stages`` (default: every stage, in order, waiting for each to be set up).

    Ctrl-C and SIGTERM stop it cleanly (``StopRequest``): ``TrialInterrupted`` once the running trial has
    saved its checkpoint and queued its retry."""
    ran = 0
    with StopRequest().installed() as stop:
        for stage in stages or range(1, len(plan["stages"]) + 1):
            echo = functools.partial(print, file=stream or sys.stdout)
            study = wait_for_stage(storage, plan, stage, stop, echo)
            if not studies.finished(study):
                ran += work_stage(storage, plan, stage, worker, output, stream, stop)
    return ran
