"""A training run's configuration: what ``ember train`` reads from flags or a YAML/TOML file, checked whole
before any training starts.

A configuration is a nested mapping (``optimizer.lr``, ``schedule.name``, ...). ``resolve_config`` checks it
field by field against ``TrainConfig`` (the type of each field, the allowed names, the ranges) and reports
every problem with the field's dotted name: ``optimizer.lr: must be a number > 0, got -0.1``, ``unknown field
'optimiser' (did you mean 'optimizer'?)``. It then fills in what was left to the recipe (the learning rate and
momentum of the chosen optimizer, the interval of the chosen schedule, the data set's augmentation), so the
``config.yaml`` written into the run directory states every number the run used and can be run again as is.

Which names are allowed comes from the registries themselves: ``ember.models.list()`` for ``model``,
``ember.train.datasets.DATASETS`` for ``dataset``, and ``ember.train.registries`` for the optimizer, the
schedule and the augmentations (an optimizer's options are its constructor's parameters).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import inspect
import json
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.atomic import atomic_write
from ember.errors import EmberError
from ember.train.datasets import DATASETS
from ember.train.registries import AUGMENTATIONS, OPTIMIZERS, SCHEDULES
from ember.train.tasks import TASKS, check_task, register_vision_models


class ConfigError(EmberError, ValueError):
    """One or more invalid fields; ``problems`` lists (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = problems
        where = f" in {source}" if source else ""
        lines = [f"{name}: {message}" if name else message for name, message in problems]
        super().__init__(f"invalid configuration{where}:\n  " + "\n  ".join(lines))


# ----------------------------------------------------------------------------------------------------------
# The schema
@dataclass
class OptimizerConfig:
    name: str = "sgd"
    lr: float | None = None  # None: the recipe's rate for this optimizer (OPTIMIZERS[name].defaults)
    momentum: float | None = None
    nesterov: bool | None = None
    weight_decay: float | None = None
    betas: list[float] | None = None
    options: dict[str, Any] = field(default_factory=dict)  # any other keyword of the optimizer


@dataclass
class ScheduleConfig:
    name: str = "cosine"
    interval: str | None = None  # "step" or "epoch"; None: the schedule's natural one
    warmup_epochs: int = 0  # a linear ramp from lr/10 over these first epochs
    options: dict[str, Any] = field(default_factory=dict)  # step_size, gamma, milestones, factor, ...


@dataclass
class RegularizationConfig:
    l1: float = 0.0  # lambda of the L1 penalty, sum |W| over weights (not biases or norm parameters)
    l2: float = 0.0  # lambda of the L2 penalty, sum W^2


@dataclass
class FinetuneConfig:
    init_from: str | None = None  # an Ember checkpoint or run directory, or a safetensors file of weights
    strategy: str = "all"  # linear, top or all (ember.train.transfer.STRATEGIES)
    layers: int = 2  # top: how many linear/convolution layers below the head also train
    backbone_lr: float = 0.1  # the pretrained layers' rate, as a fraction of optimizer.lr (the head's)
    freeze_batchnorm: bool = True  # frozen batch norm layers keep their running statistics


@dataclass
class TrainConfig:
    task: str = "classify"  # classify, segment, localize, detect or instance (ember.train.tasks)
    model: str = "small_cnn"
    model_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "fashion-mnist"
    data_root: str | None = None
    download: bool = False  # fetch a missing data set from its canonical mirrors (checksums verified)
    val_size: float | None = None  # held-out images (a count, or a fraction if < 1); None: the data set's
    subset: int | None = None  # train on the first N training images only (quick runs, tests)
    test_subset: int | None = None
    augment: list[str] = field(default_factory=lambda: ["default"])
    batch_size: int = 128
    epochs: int | None = None  # None: the data set's recipe (MNIST 12, Fashion-MNIST 8, CIFAR 30)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    regularization: RegularizationConfig = field(default_factory=RegularizationConfig)
    label_smoothing: float = 0.0
    early_stopping: int | None = None  # patience in epochs; None or 0: off
    seed: int = 0
    workers: int = 1  # loader threads preparing batches ahead
    output: str = "runs"  # the folder in which run directories are made
    name: str | None = None  # the run directory's name; None: dataset-model-date-time
    checkpoint_every: int | None = None  # also save last.safetensors every N steps
    report: bool = True
    monitor: bool = False  # per-epoch layer statistics and warnings (ember.train.doctor.Monitor)
    lr_finder: bool = False  # choose optimizer.lr by the range test first (optimizer.lr: auto)
    snapshots: int = 0  # save a snapshot at each cycle's end; measure the ensemble of the last N (0: off)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # start from a trained model

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def total_epochs(self) -> int:
        """``epochs`` once ``resolve_config`` has filled it in."""
        if self.epochs is None:
            raise ValueError("epochs is not resolved yet: use resolve_config")
        return self.epochs


# ----------------------------------------------------------------------------------------------------------
# Reading files
def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML (``.yaml``/``.yml``), TOML (``.toml``) or JSON file as a nested dict."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError([("", f"{path} is a folder; --config takes a YAML, TOML or JSON file")])
    if not path.is_file():
        raise ConfigError([("", f"no such config file: {path}")])
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(
                    [("", "YAML config files need PyYAML: pip install 'ember[train]' (or use TOML)")]
                ) from None
            data = yaml.safe_load(text)
        else:
            raise ConfigError([("", f"{path}: unknown config format '{suffix}' (use .yaml, .toml or .json)")])
    except ConfigError:
        raise
    except UnicodeDecodeError:
        raise ConfigError(
            [("", f"{path}: not a text file (it is not UTF-8): pass a YAML, TOML or JSON file")]
        ) from None
    except OSError as error:
        raise ConfigError([("", f"{path}: cannot read it ({error.strerror})")]) from None
    except Exception as error:  # each parser has its own exception type
        raise ConfigError([("", f"{path}: cannot parse: {error}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            [("", f"{path}: expected a mapping of fields at the top, got {type(data).__name__}")]
        )
    return data


def dump_config(config: TrainConfig, path: str | os.PathLike[str]) -> Path:
    """Write the resolved configuration atomically as YAML (as JSON, itself YAML, if PyYAML is missing)."""
    data = config.to_dict()
    try:
        import yaml

        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    except ImportError:
        text = json.dumps(data, indent=2) + "\n"
    return atomic_write(path, text)


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it, nested mappings merged key by key."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


# ----------------------------------------------------------------------------------------------------------
# Checking types
def _type_name(kind: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if kind in names:
        return names[kind]
    origin = typing.get_origin(kind)
    if origin is list:
        return f"a list of {_type_name(typing.get_args(kind)[0]).split(' ', 1)[-1]}s"
    if origin is dict:
        return "a mapping"
    return getattr(kind, "__name__", str(kind))


def _coerce(value: Any, kind: Any, name: str, problems: list[tuple[str, str]]) -> Any:
    """``value`` as ``kind`` (the field's annotation), or a problem recorded under ``name``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None:
            return None
        return _coerce(value, options[0], name, problems)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            problems.append((name, f"expected a mapping of fields, got {value!r}"))
            return kind()
        return _build(kind, value, name + ".", problems)
    if origin is list:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            problems.append((name, f"must be {_type_name(kind)}, got {value!r}"))
            return []
        (item,) = typing.get_args(kind)
        return [_coerce(v, item, f"{name}[{i}]", problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            problems.append((name, f"must be a mapping, got {value!r}"))
            return {}
        return dict(value)
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        if not isinstance(value, bool):
            problems.append((name, f"must be true or false, got {value!r}"))
        return bool(value)
    if kind is int:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append((name, f"must be an integer, got {value!r}"))
            return 0
        return value
    if kind is float:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            problems.append((name, f"must be a number, got {value!r}"))
            return 0.0
        return float(value) if isinstance(value, float) else value
    if kind is str:
        if not isinstance(value, str):
            problems.append((name, f"must be a string, got {value!r}"))
            return str(value)
        return value
    raise TypeError(f"config field {name}: unsupported annotation {kind!r}")  # pragma: no cover


def _build(cls: Any, raw: Mapping[str, Any], prefix: str, problems: list[tuple[str, str]]) -> Any:
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in raw.items():
        key_name = str(key).replace("-", "_")
        if key_name not in known:
            close = difflib.get_close_matches(key_name, known, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            problems.append((f"{prefix}{key}", f"unknown field{hint}; known: {', '.join(known)}"))
            continue
        values[key_name] = _coerce(value, hints[key_name], prefix + key_name, problems)
    return cls(**values)


# ----------------------------------------------------------------------------------------------------------
# Checking values
def _check_range(
    problems: list[tuple[str, str]],
    name: str,
    value: float | None,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
) -> None:
    if value is None:
        return
    below = value <= low if low_open else value < low
    if below or value > high:
        sign = ">" if low_open else ">="
        bound = f"a number {sign} {low:g}" + (f" and <= {high:g}" if math.isfinite(high) else "")
        problems.append((name, f"must be {bound}, got {value!r}"))


def _choice(problems: list[tuple[str, str]], name: str, value: str, choices: Any) -> bool:
    if value in choices:
        return True
    close = difflib.get_close_matches(value, list(choices), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    problems.append((name, f"unknown value '{value}'{hint}; choose one of: {', '.join(choices)}"))
    return False


def _check_optimizer(config: OptimizerConfig, problems: list[tuple[str, str]]) -> None:
    known = _choice(problems, "optimizer.name", config.name, OPTIMIZERS)
    _check_range(problems, "optimizer.lr", config.lr, 0.0, low_open=True)
    _check_range(problems, "optimizer.momentum", config.momentum, 0.0, 1.0)
    _check_range(problems, "optimizer.weight_decay", config.weight_decay, 0.0)
    if config.betas is not None and (
        len(config.betas) != 2 or not all(0 <= beta < 1 for beta in config.betas)
    ):
        problems.append(("optimizer.betas", f"must be two numbers in [0, 1), got {config.betas!r}"))
    if not known:
        return
    parameters = set(inspect.signature(OPTIMIZERS[config.name].cls).parameters) - {"params", "torch_flags"}
    given = {key: getattr(config, key) for key in ("momentum", "nesterov", "betas")}
    given.update(config.options)
    for key, value in given.items():
        if value is not None and key not in parameters:
            problems.append(
                (
                    f"optimizer.{key}",
                    f"the {config.name} optimizer has no '{key}' option (it takes: "
                    f"{', '.join(sorted(parameters))})",
                )
            )


def _check_schedule(config: ScheduleConfig, problems: list[tuple[str, str]]) -> None:
    known = _choice(problems, "schedule.name", config.name, SCHEDULES)
    if config.interval is not None:
        _choice(problems, "schedule.interval", config.interval, ("step", "epoch"))
    _check_range(problems, "schedule.warmup_epochs", config.warmup_epochs, 0)
    if not known:
        return
    entry = SCHEDULES[config.name]
    if entry.needs_metric and config.interval == "step":
        problems.append(
            ("schedule.interval", f"the {config.name} schedule watches the validation loss per epoch")
        )
    if config.warmup_epochs and not entry.takes_warmup:
        problems.append(
            (
                "schedule.warmup_epochs",
                f"the {config.name} schedule takes no warm-up ({entry.no_warmup}); leave this at 0",
            )
        )


def check_config(config: TrainConfig, problems: list[tuple[str, str]]) -> None:
    """Range and name checks of every field (the registries are asked about model and optimizer names)."""
    _choice(problems, "dataset", config.dataset, DATASETS)
    if _choice(problems, "task", config.task, TASKS):
        check_task(config, problems)
    try:
        from ember.models import list_models

        register_vision_models(config.model)
        models = list_models()
    except ImportError:
        models = None
    if models is not None:
        _choice(problems, "model", config.model, models)
    _check_range(problems, "batch_size", config.batch_size, 1)
    _check_range(problems, "epochs", config.epochs, 1)
    _check_range(problems, "workers", config.workers, 0)
    _check_range(problems, "val_size", config.val_size, 0)
    _check_range(problems, "subset", config.subset, 1)
    _check_range(problems, "test_subset", config.test_subset, 1)
    _check_range(problems, "label_smoothing", config.label_smoothing, 0.0, 1.0)
    _check_range(problems, "early_stopping", config.early_stopping, 0)
    _check_range(problems, "checkpoint_every", config.checkpoint_every, 1)
    _check_range(problems, "regularization.l1", config.regularization.l1, 0.0)
    _check_range(problems, "regularization.l2", config.regularization.l2, 0.0)
    if config.seed < 0:
        problems.append(("seed", f"must be a non-negative integer, got {config.seed}"))
    held_out = config.val_size
    if config.subset is not None and held_out is not None and held_out >= 1 and held_out >= config.subset:
        problems.append(
            ("val_size", f"{config.val_size:g} held-out images leave none of subset={config.subset}")
        )
    for i, name in enumerate(config.augment):
        _choice(problems, f"augment[{i}]", name, AUGMENTATIONS)
    if config.name is not None and (not config.name or "/" in config.name or config.name in (".", "..")):
        problems.append(("name", f"must be a plain folder name, got {config.name!r}"))
    _check_optimizer(config.optimizer, problems)
    _check_schedule(config.schedule, problems)
    _check_range(problems, "snapshots", config.snapshots, 0)
    finetune = config.finetune
    _choice(problems, "finetune.strategy", finetune.strategy, ("linear", "top", "all"))
    _check_range(problems, "finetune.layers", finetune.layers, 0)
    _check_range(problems, "finetune.backbone_lr", finetune.backbone_lr, 0.0, low_open=True)


def fill_recipe(config: TrainConfig) -> TrainConfig:
    """Replace what was left open with the recipe's choice, so the saved config states every number."""
    optimizer = config.optimizer
    for key, value in OPTIMIZERS[optimizer.name].defaults.items():
        if getattr(optimizer, key) is None:
            setattr(optimizer, key, value)
    if optimizer.name == "sgd" and optimizer.nesterov is None:
        optimizer.nesterov = bool(optimizer.momentum)
    if config.schedule.interval is None:
        config.schedule.interval = SCHEDULES[config.schedule.name].interval

    if config.augment == ["default"] or not config.augment:
        config.augment = list(DATASETS[config.dataset].augment) or ["none"]
    if config.epochs is None:
        config.epochs = DATASETS[config.dataset].epochs
    if config.val_size is None:
        config.val_size = DATASETS[config.dataset].val_size
    return config


def _auto_lr(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``optimizer.lr: auto`` (``--lr auto``) means ``lr_finder: true``: the range test chooses the rate."""
    optimizer = raw.get("optimizer")
    lr = optimizer.get("lr") if isinstance(optimizer, Mapping) else None
    if isinstance(lr, str) and lr.strip().lower() == "auto":
        return merge(raw, {"optimizer": {"lr": None}, "lr_finder": True})
    return raw


def resolve_config(raw: Mapping[str, Any], source: str | None = None) -> TrainConfig:
    """Check a nested mapping against ``TrainConfig`` and return it with the recipe's choices filled in.

    Raises ``ConfigError`` naming every bad field at once.
    """
    problems: list[tuple[str, str]] = []
    config = _build(TrainConfig, _auto_lr(raw), "", problems)
    unreadable = {name for name, _ in problems}
    checks: list[tuple[str, str]] = []
    check_config(config, checks)  # fields that could not be read are not checked again
    problems += [(name, message) for name, message in checks if name not in unreadable]
    if problems:
        raise ConfigError(problems, source)
    config = fill_recipe(config)
    problems = []
    if config.optimizer.name == "sgd" and config.optimizer.nesterov and not config.optimizer.momentum:
        problems.append(("optimizer.nesterov", "Nesterov momentum needs optimizer.momentum > 0"))
    warmup = config.schedule.warmup_epochs
    if warmup and warmup >= config.total_epochs:
        problems.append(
            (
                "schedule.warmup_epochs",
                f"{warmup} warm-up epochs leave none of the run's {config.total_epochs} to the "
                f"{config.schedule.name} schedule; use fewer warm-up epochs than epochs",
            )
        )
    if problems:
        raise ConfigError(problems, source)
    return config
