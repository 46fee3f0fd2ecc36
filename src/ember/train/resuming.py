"""What ``ember resume`` may change about a run, and how a run is extended to more epochs.

Changed settings. A run continues with the settings it was trained with: they are stored in every
checkpoint, and ``config.yaml`` is compared with the last checkpoint's before anything runs. Only the
fields in ``OVERRIDABLE`` may differ (they change neither the numbers computed so far nor the meaning of
the state saved: how long to train, where the data is, how many loader threads, how often to save, whether
to write the report or watch the layers); ``output`` and ``name`` are where the run was made and are not
compared (a run directory may be moved). Any other change (the learning rate, the seed, which would move
the validation split, the batch size, the model...) is refused with the fields named. Every resume is
recorded in ``RUN/resumes.jsonl``: when, from which epoch and step, and the fields changed (old and new
values).

Extending (``--epochs N``, or ``epochs`` edited). The schedule is re-laid over the new length: from the
step where the run stopped, the learning rate is the one a run started with ``--epochs N`` would have at
that step. Concretely the schedule is built for N epochs and stepped to the run's position (cheap: a few
float operations per step), so the rates that follow are bit for bit those of that N-epoch run. For the
schedules whose shape depends on the length (cosine, linear, onecycle; step, multistep and exponential with
their default options) the rate moves to the N-epoch curve: a finished cosine run of 3 epochs extended to 5
continues at (1 + cos(0.6 pi)) / 2 = 35% of its initial rate and anneals to 0 at epoch 5. The others
(constant, inverse-time, inverse-sqrt, and step, multistep or exponential with explicit options) do not
depend on the length and simply continue; plateau keeps its own state (the validation losses it has seen).
"""

from __future__ import annotations

import datetime
import json
import os
import warnings
from pathlib import Path
from typing import Any

from ember.atomic import atomic_write
from ember.train.config import TrainConfig, resolve_config
from ember.train.rundir import CONFIG_FILE, RunDirectoryError
from ember.train.trainer import needs_metric

OVERRIDABLE = ("epochs", "data_root", "download", "workers", "checkpoint_every", "report", "monitor")
NOT_COMPARED = ("output", "name")  # where the run directory was made: it may have been moved since
RESUMES_FILE = "resumes.jsonl"


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optimizer": {"lr": 0.1}}`` -> ``{"optimizer.lr": 0.1}`` (lists are values)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def changed_fields(trained: TrainConfig, edited: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """The fields whose value differs: name -> (trained with, now)."""
    before, after = flatten(trained.to_dict()), flatten(edited.to_dict())
    names = [name for name in before if name not in NOT_COMPARED] + [n for n in after if n not in before]
    return {
        name: (before.get(name), after.get(name)) for name in names if before.get(name) != after.get(name)
    }


def check_changes(directory: Path, trained: dict[str, Any] | None, config: TrainConfig) -> dict[str, Any]:
    """The accepted changes of ``config`` from the configuration the run trained with, or a refusal."""
    if trained is None:  # a checkpoint without its configuration: nothing to compare with
        return {}
    changes = changed_fields(resolve_config(trained, "the checkpoint's configuration"), config)
    refused = {name: values for name, values in changes.items() if name not in OVERRIDABLE}
    if refused:
        listed = ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in refused.items())
        path = directory / CONFIG_FILE
        raise RunDirectoryError(
            f"{path} was changed after the run started ({listed}): a run continues with the settings "
            f"it was trained with, and only {', '.join(OVERRIDABLE)} may change. Undo the change, or "
            f"start a new run from the edited file: ember train --config {path} --name NEW-NAME"
        )
    return changes


def record_resume(directory: Path, epoch: int, step: int, changes: dict[str, tuple[Any, Any]]) -> None:
    """Add this resume to ``RUN/resumes.jsonl`` (the whole file rewritten atomically)."""
    path = directory / RESUMES_FILE
    previous = path.read_text() if path.exists() else ""
    entry = {
        "time": datetime.datetime.now().isoformat(timespec="seconds"),
        "pid": os.getpid(),
        "epoch": epoch,
        "step": step,
        "changed": {name: list(values) for name, values in changes.items()},
    }
    atomic_write(path, previous + json.dumps(entry) + "\n")


def relay_schedule(scheduler: Any, optimizer: Any, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with its schedule re-laid over the length ``scheduler`` was built for (see the module).

    ``scheduler`` is fresh (built for the new number of epochs) on ``optimizer``; it is stepped to the saved
    position and the rates and momenta it sets replace the saved ones in the optimizer's state.
    """
    saved = state.get("scheduler")
    if scheduler is None or saved is None or needs_metric(scheduler):
        return state
    with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": nothing trains here
        warnings.simplefilter("ignore")
        for _ in range(int(saved["last_epoch"]) - int(scheduler.last_epoch)):
            scheduler.step()
    groups = [
        {**stored, **{key: value for key, value in live.items() if key != "params"}}
        for stored, live in zip(state["optimizer"]["param_groups"], optimizer.param_groups, strict=True)
    ]
    return {
        **state,
        "scheduler": scheduler.state_dict(),
        "optimizer": {**state["optimizer"], "param_groups": groups},
    }


def resumes(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``RUN/resumes.jsonl`` ([] for a run never resumed)."""
    path = Path(directory) / RESUMES_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
