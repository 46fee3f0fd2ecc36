"""A search's results, read from its studies alone: one row per trial, a table, a CSV file.

Columns: stage, trial, the values of the hyperparameters, the best validation accuracy, the epochs run,
the state (``complete``, ``pruned@E`` at epoch E, ``failed``, ``running``, ``waiting``), the time, the
worker, and a note (why a trial was pruned or stopped, which trial retried it). Trials made when the queue
had just run dry (``unused``) are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.atomic import atomic_write
from ember.train.callbacks.logging import csv_text
from ember.train.search import study as studies
from ember.train.search.space import Param


@dataclass
class Row:
    stage: int
    trial: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    params: dict[str, Any]
    value: float | None  # the best validation accuracy (a pruned trial's: the best it reported)
    epochs: int
    seconds: float | None
    worker: Any
    host: str
    directory: str
    note: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    pruning: list[dict[str, Any]] = field(default_factory=list)
    slot: int | None = None

    @property
    def label(self) -> str:
        if self.state == "PRUNED":
            return f"pruned@{self.epochs}"
        return {"COMPLETE": "complete", "FAIL": "failed"}.get(self.state, self.state.lower())

    @property
    def ranked(self) -> bool:
        """Whether it has a value to rank (complete or pruned)."""
        return self.state in ("COMPLETE", "PRUNED") and self.value is not None


def _value(trial: Any) -> float | None:
    if trial.value is not None:
        return float(trial.value)
    reported = [v for v in trial.intermediate_values.values() if v is not None and math.isfinite(v)]
    return max(reported) if reported and trial.state.name == "PRUNED" else None


def stage_rows(study: Any, stage: int) -> list[Row]:
    """The rows of one stage's study, in trial order."""
    trials = study.get_trials(deepcopy=False)
    retried_by: dict[int, int] = {}
    for trial in trials:
        for number in trial.system_attrs.get("retry_history", []):
            retried_by.setdefault(number, trial.number)
    rows = []
    for trial in trials:
        attrs = trial.user_attrs
        if attrs.get("unused"):
            continue
        history = attrs.get("history", [])
        note = attrs.get("stopped") or ""
        if trial.state.name == "PRUNED":
            note = _pruned_note(attrs.get("pruning", []))
        if trial.number in retried_by:
            note = (
                f"{note}; retried as trial {retried_by[trial.number]}"
                if note
                else f"retried as trial {retried_by[trial.number]}"
            )
        if trial.system_attrs.get("failed_trial") is not None:
            note = f"retry of trial {trial.system_attrs['failed_trial']}" + (f"; {note}" if note else "")
        seconds = None
        if trial.datetime_start and trial.datetime_complete:
            seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
        rows.append(
            Row(
                stage=stage,
                trial=trial.number,
                state=trial.state.name,
                params=dict(trial.params),
                value=_value(trial),
                epochs=int(attrs.get("epochs", len(history))),
                seconds=seconds,
                worker=attrs.get("worker", ""),
                host=attrs.get("host", ""),
                directory=attrs.get("directory", ""),
                note=note,
                history=history,
                pruning=attrs.get("pruning", []),
                slot=attrs.get("slot"),
            )
        )
    return rows


def _pruned_note(decisions: list[dict[str, Any]]) -> str:
    last = next((d for d in reversed(decisions) if d.get("pruned")), None)
    if last is None:
        return "pruned"
    text = f"epoch {last['epoch']}: {100 * last['value']:.2f}%"
    if last.get("median") is not None:
        text += f" < median {100 * last['median']:.2f}% of {len(last.get('over', []))} finished trials"
    return text


def all_rows(storage: Any, plan: dict[str, Any]) -> list[Row]:
    """Every stage's rows (the stages that exist so far)."""
    rows: list[Row] = []
    for stage in range(1, len(plan["stages"]) + 1):
        study = studies.find_study(storage, studies.stage_name(plan["study"], stage))
        if study is None:
            break
        rows += stage_rows(study, stage)
    return rows


def best(rows: list[Row], stage: int | None = None) -> Row | None:
    """The complete trial with the highest validation accuracy (of ``stage``, or the last stage run)."""
    complete = [row for row in rows if row.state == "COMPLETE" and row.value is not None]
    if stage is None and complete:
        stage = max(row.stage for row in complete)
    complete = [row for row in complete if row.stage == stage]
    return max(complete, key=lambda row: (row.value, -row.trial)) if complete else None


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def short_name(name: str) -> str:
    """``optimizer.weight_decay`` -> ``weight_decay`` (the table's column title)."""
    return name.rsplit(".", 1)[-1]


def table(rows: list[Row], names: list[str], limit: int | None = None) -> str:
    """The rows as a fixed-width text table, best first (then the rest in trial order)."""
    ordered = sorted(rows, key=lambda row: (row.stage, not row.ranked, -(row.value or 0), row.trial))
    if limit is not None:
        ordered = ordered[:limit]
    header = ["stage", "trial", *map(short_name, names), "val acc", "epochs", "state", "time", "worker"]
    body = [
        [
            str(row.stage),
            str(row.trial),
            *(format_value(row.params.get(name, "")) for name in names),
            f"{100 * row.value:.2f}%" if row.value is not None else "",
            str(row.epochs),
            row.label,
            f"{row.seconds:.0f}s" if row.seconds is not None else "",
            str(row.worker),
        ]
        for row in ordered
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in [header, *body]
    ]
    return "\n".join(lines)


def write_csv(rows: list[Row], names: list[str], path: Path) -> Path:
    """``results.csv``: one line per trial, every column of the table and the run directory and note."""
    header = [
        "stage",
        "trial",
        *names,
        "val_accuracy",
        "epochs",
        "state",
        "seconds",
        "worker",
        "host",
        "directory",
        "note",
    ]
    lines = [
        [
            row.stage,
            row.trial,
            *(row.params.get(name) for name in names),
            row.value,
            row.epochs,
            row.label,
            None if row.seconds is None else round(row.seconds, 1),
            row.worker,
            row.host,
            row.directory,
            row.note,
        ]
        for row in sorted(rows, key=lambda row: (row.stage, row.trial))
    ]
    return atomic_write(path, csv_text(header, lines))


def param_names(plan: dict[str, Any]) -> list[str]:
    return [Param.from_dict(item).name for item in plan["space"]]


def trial_line(row: Row) -> str:
    """One line as a trial ends: ``stage 1 trial 3  lr=0.0123 ...  val 88.12%  complete, 2 epochs, 41 s``."""
    values = " ".join(f"{short_name(name)}={format_value(value)}" for name, value in row.params.items())
    value = f"val {100 * row.value:.2f}%" if row.value is not None else "no val accuracy"
    time_text = f", {row.seconds:.0f} s" if row.seconds is not None else ""
    note = f" ({row.note})" if row.note else ""
    outcome = f"{row.label}, {plural(row.epochs, 'epoch')}{time_text}, worker {row.worker}{note}"
    return f"stage {row.stage} trial {row.trial:>3}  {values}  {value}  {outcome}"


def tally(rows: list[Row]) -> str:
    """``16 trials: 11 complete, 5 pruned, 0 failed``."""
    count = {state: sum(row.state == state for row in rows) for state in ("COMPLETE", "PRUNED", "FAIL")}
    return (
        f"{plural(len(rows), 'trial')}: {count['COMPLETE']} complete, {count['PRUNED']} pruned, "
        f"{count['FAIL']} failed"
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
