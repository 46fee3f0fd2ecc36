"""What the search tests share: a tiny search (an MLP on 1,000 real MNIST images, seconds per trial) and
readers of its study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ember.train.search.settings import SearchSettings
from ember.train.search.space import Param

optuna = pytest.importorskip("optuna")

LR = Param("optimizer.lr", "log", 1e-3, 0.5)
WEIGHT_DECAY = Param("optimizer.weight_decay", "log", 1e-6, 1e-2)


def tiny_base(root: Path, output: Path, name: str = "search", **fields: Any) -> dict[str, Any]:
    """The configuration every trial starts from: an MLP (one hidden layer of 32) on the MNIST subset."""
    return {
        "dataset": "mnist",
        "data_root": str(root),
        "model": "mlp",
        "model_options": {"hidden": [32]},
        "epochs": 2,
        "augment": ["none"],
        "batch_size": 100,
        "val_size": 200,
        "workers": 0,
        "output": str(output),
        "name": name,
        **fields,
    }


def tiny_settings(**fields: Any) -> SearchSettings:
    """Few trials, no per-trial report, the pruner judging from the first finished trial, quick heartbeats."""
    return SearchSettings(**{"trials": [4], "report": False, "startup_trials": 1, "heartbeat": 1, **fields})


def stage_trials(directory: Path, stage: int = 1) -> list[Any]:
    """The trials of a search directory's stage (Optuna's frozen trials), in number order."""
    from ember.train.search import runner
    from ember.train.search import study as studies

    record = runner.read_record(directory)
    storage = studies.open_storage(record["storage"])
    study = studies.find_study(storage, studies.stage_name(record["study"], stage))
    return sorted(study.get_trials(deepcopy=False), key=lambda trial: trial.number)


def by_slot(trials: list[Any]) -> dict[int, list[Any]]:
    """The complete or pruned trials of each slot of the budget (each must have exactly one)."""
    slots: dict[int, list[Any]] = {}
    for trial in trials:
        if trial.state.name in ("COMPLETE", "PRUNED"):
            slots.setdefault(trial.user_attrs["slot"], []).append(trial)
    return slots
