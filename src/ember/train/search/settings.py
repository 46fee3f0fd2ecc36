"""How a search runs: the strategy, the budget of each stage, the pruner, the workers and the storage.

The lectures' procedure, option by option: ``strategy`` is ``random`` (better than a grid when only some
hyperparameters matter: every trial tries a new value of each), ``grid`` (every combination of
``grid_points`` values per range), ``tpe`` (Optuna's model-based sampler) or ``coarse-to-fine`` (random
stages, each range narrowed around the previous stage's best trials: ``ember.train.search.space.narrow``).
``trials`` and ``epochs`` are per stage: short runs first ("train for ~1-5 epochs"), then fewer, longer ones
("refine, train longer"). ``pruner`` stops a trial whose validation accuracy after an epoch falls below the
median of the finished trials at that epoch (``median``), or keeps the top third at each rung of successive
halving (``halving``); it starts judging once ``startup_trials`` trials have finished.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ember.train.config import ConfigError

STRATEGIES = ("random", "grid", "tpe", "coarse-to-fine")
PRUNERS = ("median", "halving", "none")
DEFAULT_TRIALS = 16


@dataclass
class SearchSettings:
    strategy: str = "random"
    trials: list[int] = field(default_factory=list)  # per stage; [] for the strategy's default
    epochs: list[int] = field(default_factory=list)  # per stage; [] for the training configuration's
    grid_points: int = 3  # values per range in a grid
    pruner: str = "median"
    startup_trials: int = 4  # finished trials before the pruner judges
    top_k: int | None = (
        None  # coarse-to-fine: trials the next ranges are drawn around (None: a quarter, >= 2)
    )
    widen: float = 0.5  # coarse-to-fine: widening of the top trials' span, each side, as a share of it
    workers: int = 1  # local worker processes (0: only coordinate, workers join with 'ember search worker')
    storage: str | None = None  # an Optuna storage URL; None: SQLite in the search directory; memory
    study: str | None = None  # the study's name; None: the search directory's name
    then_train: bool = False  # train the best configuration longer afterwards
    final_epochs: int | None = None  # its epochs (None: twice the last stage's, at least 10)
    heartbeat: int = 10  # seconds between a running trial's heartbeats; stale after 3 missed
    report: bool = True  # each trial's HTML report

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Stage:
    trials: int
    epochs: int


KINDS = {field.name: field.type for field in dataclasses.fields(SearchSettings)}


def _read(value: Any, kind: str, where: str, problems: list[tuple[str, str]]) -> Any:
    """``value`` as the field's type (written as a string annotation), or a problem."""
    if value is None and "None" in kind:
        return None
    if kind.startswith("list[int]"):
        if isinstance(value, int | str) and not isinstance(value, bool):
            value = (
                [value]
                if isinstance(value, int)
                else [part for part in str(value).split(",") if part.strip()]
            )
        if not isinstance(value, list | tuple):
            problems.append((where, f"must be a number or a list of numbers, got {value!r}"))
            return []
        return [_read(item, "int", f"{where}[{i}]", problems) for i, item in enumerate(value)]
    if kind.startswith("int"):
        try:
            number = float(value) if isinstance(value, str) else value
            if (
                isinstance(number, bool)
                or not isinstance(number, int | float)
                or not float(number).is_integer()
            ):
                raise ValueError
            return int(number)
        except (TypeError, ValueError):
            problems.append((where, f"must be an integer, got {value!r}"))
            return 0
    if kind.startswith("float"):
        try:
            number = float(value)
            if isinstance(value, bool) or not math.isfinite(number):
                raise ValueError
            return number
        except (TypeError, ValueError):
            problems.append((where, f"must be a number, got {value!r}"))
            return 0.0
    if kind.startswith("bool"):
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        if not isinstance(value, bool):
            problems.append((where, f"must be true or false, got {value!r}"))
        return bool(value)
    if not isinstance(value, str):
        problems.append((where, f"must be a string, got {value!r}"))
        return str(value)
    return value


def read_settings(
    raw: Mapping[str, Any], where: str = "search"
) -> tuple[SearchSettings, list[tuple[str, str]]]:
    """A config file's ``search`` section (without ``space``) and flags as settings, and the problems."""
    problems: list[tuple[str, str]] = []
    values = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name not in KINDS:
            problems.append((f"{where}.{key}", f"unknown setting; known: space, {', '.join(KINDS)}"))
            continue
        values[name] = _read(value, str(KINDS[name]), f"{where}.{key}", problems)
    return SearchSettings(**values), problems


def _choice(problems: list[tuple[str, str]], where: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        problems.append((where, f"unknown value '{value}'; choose one of: {', '.join(choices)}"))


def check_settings(settings: SearchSettings, problems: list[tuple[str, str]], where: str = "search") -> None:
    _choice(problems, f"{where}.strategy", settings.strategy, STRATEGIES)
    _choice(problems, f"{where}.pruner", settings.pruner, PRUNERS)
    for name in ("grid_points", "startup_trials", "heartbeat"):
        if getattr(settings, name) < 1:
            problems.append((f"{where}.{name}", f"must be at least 1, got {getattr(settings, name)}"))
    for name in ("trials", "epochs"):
        if any(value < 1 for value in getattr(settings, name)):
            problems.append((f"{where}.{name}", f"must be at least 1 each, got {getattr(settings, name)}"))
    if settings.workers < 0:
        problems.append((f"{where}.workers", f"must be 0 or more, got {settings.workers}"))
    if settings.widen < 0:
        problems.append((f"{where}.widen", f"must be 0 or more, got {settings.widen:g}"))
    if settings.top_k is not None and settings.top_k < 1:
        problems.append((f"{where}.top_k", f"must be at least 1, got {settings.top_k}"))
    if settings.final_epochs is not None and settings.final_epochs < 1:
        problems.append((f"{where}.final_epochs", f"must be at least 1, got {settings.final_epochs}"))
    if settings.storage in (None, "memory") or settings.storage.startswith(("sqlite", "postgresql", "mysql")):
        pass
    else:
        problems.append(
            (
                f"{where}.storage",
                f"expected sqlite:///FILE, postgresql+psycopg2://... or memory, got {settings.storage!r}",
            )
        )
    if settings.storage == "memory" and settings.workers != 1:
        problems.append((f"{where}.workers", "an in-memory study lives in one process: use --workers 1"))


def plan_stages(settings: SearchSettings, base_epochs: int, grid_size: int | None) -> list[Stage]:
    """The stages' budgets: ``trials`` and ``epochs`` per stage, the strategy's defaults filled in.

    Raises ``ConfigError`` for lists of different lengths, a grid with a trial count, one stage of
    coarse-to-fine.
    """
    trials, epochs = list(settings.trials), list(settings.epochs)
    if settings.strategy == "grid":
        if trials:
            raise ConfigError(
                [("search.trials", f"a grid runs each of its {grid_size} points once: drop --trials")]
            )
        trials = [grid_size or 1]
    if settings.strategy != "coarse-to-fine":
        if len(trials) > 1 or len(epochs) > 1:
            raise ConfigError(
                [("search.trials", f"one stage with strategy {settings.strategy}: give one number")]
            )
        return [Stage(trials[0] if trials else DEFAULT_TRIALS, epochs[0] if epochs else base_epochs)]
    count = max(len(trials), len(epochs), 2)
    if (trials and len(trials) != count) or (epochs and len(epochs) != count):
        raise ConfigError([("search.epochs", f"give trials and epochs for each of the {count} stages")])
    if count < 2:
        raise ConfigError([("search.trials", "coarse-to-fine needs two stages or more (--trials 16,8)")])
    trials = trials or [max(2, DEFAULT_TRIALS // 2**s) for s in range(count)]
    # Short runs first: a quarter of the epochs for the coarse stage, the configuration's for the last.
    epochs = epochs or [
        max(1, round(base_epochs / 4 ** ((count - 1 - s) / (count - 1)))) for s in range(count)
    ]
    return [Stage(t, e) for t, e in zip(trials, epochs, strict=True)]


def top_k(settings: SearchSettings, ranked: int) -> int:
    """How many of ``ranked`` finished trials the next stage's ranges are drawn around."""
    if settings.top_k is not None:
        return min(settings.top_k, ranked)
    return min(ranked, max(2, math.ceil(ranked / 4)))


def final_epochs(settings: SearchSettings, stages: list[Stage]) -> int:
    """The final run's epochs: as set, else twice the last stage's and at least 10 (the lectures' ~10-20)."""
    return settings.final_epochs or max(10, 2 * stages[-1].epochs)
