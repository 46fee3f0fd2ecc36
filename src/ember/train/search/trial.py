"""One trial: a normal Ember run (``ember.train.run``) with the trial's values, watched by the pruner.

The trial's configuration is the search's base configuration with the trial's values laid over it and the
stage's epochs; its run directory is ``SEARCH/trials/trial-NNNN`` (``stage-S/`` for coarse-to-fine), so it
can be opened, evaluated, resumed or trained further like any run. After each epoch ``Pruning`` reports
the validation accuracy to the trial (Optuna's intermediate value at step = epoch) and asks the pruner;
a pruned trial stops there and still finishes its run directory (test, summary, report). The objective is
the best validation accuracy over the epochs run: the checkpoint the run keeps. The test split is never
used to compare trials.

What a trial records (Optuna user attributes, read by the results table and the page, so a study in a
remote database can be reported without the machines that ran it): its ``slot``, ``directory``, ``host``
and ``worker``, the per-epoch ``history``, the ``pruning`` decisions and why, and ``stopped`` if it did not
finish (diverged, interrupted, an error).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ember.atomic import WriteError
from ember.errors import EmberError
from ember.train.callbacks.base import Callback, TrainingLoop
from ember.train.callbacks.checkpoint import LAST
from ember.train.search import study as studies
from ember.train.search.space import Space, apply, suggest

HISTORY_KEYS = ("epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")


class TrialDiverged(EmberError, ArithmeticError):
    """The trial's loss became NaN or infinite: a result (the rate was too high), not a fault."""


class UnusedTrial(EmberError, RuntimeError):
    """A trial made when the queue had just run dry: no slot of the budget; it is not run."""


class TrialInterrupted(KeyboardInterrupt):
    """The trial was stopped by Ctrl-C or SIGTERM; its retry is queued. ``signal`` is the signal's number."""

    def __init__(self, signal: int | None) -> None:
        super().__init__(signal)
        self.signal = signal


class StopRequest:
    """Ctrl-C and SIGTERM in a worker, outside training: the first stops the work at the next safe point
    (before a trial, or inside it at the next step, through the Trainer's own handling), the second at once.

    So no signal lands in the middle of Optuna's or the database's bookkeeping, and every stopped trial
    queues its retry.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self.passed_on = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(
            f"\nstopping at the next step ({name}; {name} again to stop at once)", file=sys.stderr, flush=True
        )

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {number: signal.signal(number, self.handler) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for number, action in previous.items():
                signal.signal(number, action)

    def check(self) -> None:
        """Raise ``TrialInterrupted`` if a stop was asked for."""
        if self.signal is not None:
            raise TrialInterrupted(self.signal)

    def pass_on(self) -> None:
        """Inside training: hand a pending stop to the Trainer (its handler is in place), which stops after
        the step under way and saves a checkpoint, as it does for ember train."""
        if self.signal is not None and not self.passed_on:
            self.passed_on = True
            os.kill(os.getpid(), self.signal)


def slim(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-epoch records as plain JSON numbers (what a trial stores with its study)."""
    return [{key: float(record[key]) for key in HISTORY_KEYS if key in record} for record in history]


class Pruning(Callback):
    """Report each epoch's validation accuracy to the Optuna trial; stop the run if the pruner says so.

    Each decision is recorded in the trial's ``pruning`` attribute: the epoch, the value and, for the
    median pruner, the median and the finished trials it was taken over (whichever worker ran them).
    """

    def __init__(self, trial: Any, study: Any, pruner: str, stop: StopRequest | None = None) -> None:
        self.trial, self.study, self.pruner, self.stop = trial, study, pruner, stop
        self.decisions: list[dict[str, Any]] = list(trial.user_attrs.get("pruning", []))
        self.pruned_at: int | None = None

    def on_epoch_start(self, trainer: TrainingLoop) -> None:
        if self.stop is not None:  # a stop asked for while the run was being built
            self.stop.pass_on()

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        self.trial.set_user_attr("history", slim(trainer.history))
        value = record.get("val_accuracy")
        if value is None or not np.isfinite(value):
            return
        epoch = int(record["epoch"])
        self.trial.report(float(value), epoch)
        if epoch >= trainer.max_epochs:  # the last epoch: nothing left to save by pruning
            return
        prune = bool(self.trial.should_prune())
        decision: dict[str, Any] = {"epoch": epoch, "value": float(value), "pruned": prune}
        if self.pruner == "median":
            decision.update(self.median_basis(epoch))
        self.decisions.append(decision)
        self.trial.set_user_attr("pruning", self.decisions)
        if prune:
            self.pruned_at = epoch
            basis = f" < median {100 * decision['median']:.2f}%" if decision.get("median") is not None else ""
            trainer.stop(f"pruned at epoch {epoch}: val accuracy {100 * value:.2f}%{basis}")

    def median_basis(self, epoch: int) -> dict[str, Any]:
        """The finished trials with a value at ``epoch`` and their median: what the median pruner weighs."""
        complete = self.study.get_trials(deepcopy=False, states=(studies.trial_state("COMPLETE"),))
        values = {t.number: t.intermediate_values[epoch] for t in complete if epoch in t.intermediate_values}
        median = float(np.median(list(values.values()))) if values else None
        return {"median": median, "over": sorted(values)}


@dataclass
class TrialSetup:
    """What a worker's trials share: the stage's study, base configuration, space and budget."""

    study: Any
    base: dict[str, Any]
    space: Space
    epochs: int
    output: Path  # the folder of the stage's run directories
    pruner: str
    worker: int
    report: bool = True
    stream: TextIO | None = None  # the trials' progress lines (standard output if None)
    stop: StopRequest = field(default_factory=StopRequest)


def _say(stream: TextIO | None) -> Callable[[str], None]:
    def echo(message: str) -> None:
        print(message, file=stream or sys.stdout, flush=True)

    return echo


def objective(setup: TrialSetup, trial: Any) -> float:
    """Run the trial; its best validation accuracy, or ``optuna.TrialPruned`` / an error (module doc)."""
    optuna = studies.require_optuna()
    if trial.user_attrs.get("slot") is None:
        trial.set_user_attr("unused", True)
        raise UnusedTrial("the last queued trial was taken by another worker")
    try:
        values = {param.name: suggest(trial, param) for param in setup.space}
        pruning = Pruning(trial, setup.study, setup.pruner, setup.stop)
        setup.stop.check()
        result = _run(setup, trial, values, pruning)
    except (KeyboardInterrupt, WriteError) as error:  # stopped, or a full disk: resumable
        trial.set_user_attr("stopped", str(error) if isinstance(error, WriteError) else "interrupted")
        studies.retry(setup.study, trial.number)
        raise
    except optuna.TrialPruned:  # a retry of a run that had finished, pruned
        raise
    except Exception as error:  # said, as every failure is: one without a reason is a dead worker's
        reason = str(error) if isinstance(error, EmberError) else f"{type(error).__name__}: {error}"
        trial.set_user_attr("stopped", reason)
        raise
    if isinstance(result, float):  # a retry of a run that had finished
        return result
    trial.set_user_attr("epochs", len(result.history))
    trial.set_user_attr("seconds", round(result.seconds, 1))
    if result.interrupted:
        trial.set_user_attr("stopped", result.stop_reason or "interrupted")
        studies.retry(setup.study, trial.number)
        raise TrialInterrupted(result.signal)
    if result.diverged:
        trial.set_user_attr("stopped", result.stop_reason or "diverged")
        raise TrialDiverged(f"trial {trial.number} diverged: {result.stop_reason}")
    if pruning.pruned_at is not None:
        raise optuna.TrialPruned(result.stop_reason)
    return best_accuracy(result.history)


def _run(setup: TrialSetup, trial: Any, values: dict[str, Any], pruning: Pruning) -> Any:  # RunResult | float
    """The trial's run: a new run directory, or a retry continuing the directory of the trial it retries."""
    from ember.train import run
    from ember.train.callbacks import ProgressBar

    name = f"trial-{trial.number:04d}"
    fields = {"epochs": setup.epochs, "output": str(setup.output), "name": name, "report": setup.report}
    config = apply(setup.base, {**values, **fields})
    earlier = trial.user_attrs.get("directory")  # a retry: the directory of the trial it continues
    here = trial.user_attrs.get("host", socket.gethostname()) == socket.gethostname()
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("worker", setup.worker)
    trial.set_user_attr("stopped", None)
    echo = _say(setup.stream)
    echo(f"\n=== trial {trial.number} (slot {trial.user_attrs['slot']}): {describe(values)}")
    progress = ProgressBar(stream=setup.stream, bar=False if setup.stream else None)
    options: dict[str, Any] = {"echo": echo, "progress": progress, "extra_callbacks": [pruning]}
    if earlier and here and (Path(earlier) / "checkpoints" / LAST).exists():
        if (Path(earlier) / run.SUMMARY_FILE).exists():  # it had finished; only the telling was lost
            return _finished(trial, Path(earlier))
        return run.resume(earlier, **options)
    trial.set_user_attr("directory", str((Path(config.output) / name).resolve()))
    trial.set_user_attr("history", [])
    pruning.decisions = []
    return run.start(config, **options)


def best_accuracy(history: list[dict[str, Any]]) -> float:
    values = [record["val_accuracy"] for record in history if np.isfinite(record.get("val_accuracy", np.nan))]
    return float(max(values)) if values else 0.0


def _finished(trial: Any, directory: Path) -> float:
    """The outcome of a trial whose run finished before its worker could record it."""
    optuna = studies.require_optuna()
    from ember.train.callbacks import read_csv

    history = read_csv(directory / "metrics.csv")
    summary = json.loads((directory / "summary.json").read_text())
    trial.set_user_attr("history", slim(history))
    trial.set_user_attr("epochs", len(history))
    if str(summary.get("stop_reason") or "").startswith("pruned"):
        raise optuna.TrialPruned(summary["stop_reason"])
    return best_accuracy(history)


def describe(values: dict[str, Any]) -> str:
    """``optimizer.lr=0.0123 optimizer.weight_decay=0.000312``."""
    return " ".join(
        f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in values.items()
    )
