"""``ember train``: train a model on a data set, from flags or a config file, into a run directory.

With no arguments it trains the default recipe (a small CNN on Fashion-MNIST) and reports the test
accuracy. Every flag sets one field of the configuration (``ember.train.config.TrainConfig``); a YAML or
TOML file given with ``--config`` sets any of them, flags override the file, and ``--set a.b=value`` reaches
fields without a flag (``--set schedule.options.step_size=3``). The whole configuration is checked before
any data is loaded; errors name the field.
"""

from __future__ import annotations

import argparse
from typing import Any

from ember.cli.common import guarded, run_status
from ember.cli.parser import Parser, whole_number
from ember.registry import Registry
from ember.train.config import TrainConfig
from ember.train.datasets import DATASETS
from ember.train.registries import AUGMENTATIONS, OPTIMIZERS, SCHEDULES
from ember.train.tasks import TASKS

DEFAULT = TrainConfig()
SGD = OPTIMIZERS["sgd"].defaults
RATES = ", ".join(f"{name} {entry.defaults['lr']:g}" for name, entry in OPTIMIZERS.items())

# flag, field path, placeholder, help; flags take strings that the configuration checks (so errors name
# the field). The names in the help are the registries' (ember.train.registries, ember.train.datasets).
FLAGS: list[tuple[str, str, str, str]] = [
    (
        "--task",
        "task",
        "NAME",
        "what to learn: " + "; ".join(f"{name}: {task.help}" for name, task in TASKS.items()),
    ),
    (
        "--model",
        "model",
        "NAME",
        f"architecture, a name from 'ember summary --list' (default {DEFAULT.model})",
    ),
    ("--dataset", "dataset", "NAME", f"{DATASETS.choices()} (default {DEFAULT.dataset})"),
    ("--data-root", "data_root", "DIR", "folder holding the data set's files (default: the usual places)"),
    ("--epochs", "epochs", "N", "passes over the training split (default: the data set's recipe, 8-30)"),
    ("--batch-size", "batch_size", "N", "images per step (default 128)"),
    ("--optimizer", "optimizer.name", "NAME", f"{OPTIMIZERS.choices()} (default {DEFAULT.optimizer.name})"),
    (
        "--lr",
        "optimizer.lr",
        "X",
        f"learning rate (default: the optimizer's, {RATES}), or 'auto': the range test's verified choice",
    ),
    ("--momentum", "optimizer.momentum", "X", f"momentum (sgd default {SGD['momentum']:g}, Nesterov)"),
    (
        "--weight-decay",
        "optimizer.weight_decay",
        "X",
        f"the optimizer's weight decay (sgd default {SGD['weight_decay']:g})",
    ),
    (
        "--schedule",
        "schedule.name",
        "NAME",
        f"learning-rate schedule: {SCHEDULES.choices()} (default {DEFAULT.schedule.name}); ",
    ),
    ("--schedule-interval", "schedule.interval", "step|epoch", "step the schedule per step or per epoch"),
    ("--warmup-epochs", "schedule.warmup_epochs", "N", "linear warm-up from lr/10 over these first epochs"),
    ("--l1", "regularization.l1", "X", "L1 penalty strength: lambda * sum |W|"),
    ("--l2", "regularization.l2", "X", "L2 penalty strength: lambda * sum W^2"),
    ("--label-smoothing", "label_smoothing", "X", "cross-entropy label smoothing, 0 to 1 (default 0)"),
    ("--augment", "augment", "NAMES", f"comma-separated: {', '.join(AUGMENTATIONS)}"),
    (
        "--early-stopping",
        "early_stopping",
        "PATIENCE",
        "stop after this many epochs without a better validation accuracy",
    ),
    (
        "--val-size",
        "val_size",
        "N",
        "held-out validation images: a count, or a fraction of the training set below 1 "
        "(default 5000; scenes 500)",
    ),
    ("--subset", "subset", "N", "train on this many training images only (quick runs)"),
    ("--test-subset", "test_subset", "N", "measure on the first N test images only"),
    ("--seed", "seed", "N", "random seed: initialization, shuffling, augmentation, split (default 0)"),
    ("--workers", "workers", "N", "loader threads preparing batches ahead (default 1)"),
    ("--output", "output", "DIR", "folder for run directories (default runs)"),
    ("--name", "name", "NAME", "run directory name (default dataset-model-date-time)"),
    ("--checkpoint-every", "checkpoint_every", "STEPS", "also save a resumable checkpoint every STEPS steps"),
    (
        "--snapshots",
        "snapshots",
        "N",
        "save the model at each learning-rate cycle's end (with --schedule sgdr) and measure the ensemble "
        "of the last N",
    ),
    (
        "--init-from",
        "finetune.init_from",
        "CHECKPOINT",
        "fine-tune: start from this checkpoint or run directory (or safetensors weights), with a new head",
    ),
    ("--strategy", "finetune.strategy", "NAME", "fine-tune: linear (head only), top (a few layers), all"),
    ("--backbone-lr", "finetune.backbone_lr", "X", "fine-tune: the pretrained layers' lr / the head's (0.1)"),
]
# Names users know settings by from other tools, for 'did you mean' (the flags' own near-misses, such as
# --optimiser, are found by similarity).
ALIASES = {
    "learning-rate": "--lr",
    "base-lr": "--lr",
    "bs": "--batch-size",
    "wd": "--weight-decay",
    "arch": "--model",
    "architecture": "--model",
    "network": "--model",
    "data": "--data-root",
    "data-dir": "--data-root",
    "root": "--data-root",
    "output-dir": "--output",
    "out-dir": "--output",
    "log-dir": "--output",
    "num-epochs": "--epochs",
    "max-epochs": "--epochs",
    "num-workers": "--workers",
    "scheduler": "--schedule",
    "lr-scheduler": "--schedule",
    "warmup": "--warmup-epochs",
    "patience": "--early-stopping",
    "val-split": "--val-size",
    "validation-split": "--val-size",
    "save-every": "--checkpoint-every",
    "no-augment": "--augment none",
    "dropout": "--set model_options.dropout=P",
    "resume": "the command 'ember resume RUN'",
    "pretrained": "--init-from",
    "weights": "--init-from",
    "freeze": "--strategy linear",
    "snapshot-ensemble": "--snapshots",
}


def suggestions() -> dict[str, str]:
    """Other names for the flags, and the configuration's fields without a flag (set with --set)."""
    import dataclasses
    import typing

    from ember.train.config import TrainConfig

    flags = {path: flag for flag, path, _, _ in FLAGS}
    names = {**ALIASES, **flags}  # --optimizer.lr: --lr

    def visit(cls: Any, prefix: str) -> None:
        for name, kind in typing.get_type_hints(cls).items():
            path = prefix + name
            if dataclasses.is_dataclass(kind):
                visit(kind, path + ".")
                continue
            meant = flags.get(path, f"--set {path}=VALUE")
            names.setdefault(path, meant)
            names.setdefault(name, meant)

    visit(TrainConfig, "")
    return names


def names_help() -> str:
    """The optimizers, schedules and augmentations with their help lines, from the registries."""
    families: list[tuple[str, Registry[Any]]] = [
        ("optimizers", OPTIMIZERS),
        ("schedules", SCHEDULES),
        ("augmentations", AUGMENTATIONS),
    ]
    lines = []
    for title, registry in families:
        lines.append(f"{title}:")
        lines += [f"  {name:14} {entry.help}" for name, entry in registry.items()]
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model (default: a small CNN on Fashion-MNIST)",
        description="Train a model into a run directory (config, metrics, checkpoints, report): a "
        "classifier, or with --task segment|localize|detect|instance a segmentation, localization or "
        "detection network.",
        epilog=names_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [--config FILE] [--model NAME] [--dataset NAME] [--epochs N] [--batch-size N]\n"
        "                   [--lr X] [--set FIELD=VALUE] [OPTION ...]   (all options: %(prog)s --help)",
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--no-report", dest="report", action="store_const", const=False, help="skip the HTML/PNG report"
    )
    parser.add_argument(
        "--ensemble",
        type=whole_number(1),
        metavar="K",
        help="train K models with seeds seed, seed+1, ... (runs NAME-seedS) and measure their ensemble",
    )
    parser.add_argument(
        "--monitor",
        dest="monitor",
        action="store_const",
        const=True,
        help="log each layer's statistics per epoch (dead ReLUs, update/weight ratios) and warn",
    )
    parser.set_defaults(run=run)


def add_config_arguments(parser: Parser) -> None:
    """--config, a flag per field of the table, --nesterov, --download and --set (train, doctor, search,
    tune), and the other names of those settings for 'did you mean'."""
    parser.aliases = suggestions
    parser.add_argument("--config", metavar="FILE", help="a YAML, TOML or JSON file of settings")
    for flag, path, placeholder, text in FLAGS:
        parser.add_argument(flag, dest=path, metavar=placeholder, help=text)
    parser.add_argument(
        "--nesterov",
        dest="optimizer.nesterov",
        action="store_const",
        const=True,
        help="use Nesterov momentum (sgd default when momentum > 0)",
    )
    parser.add_argument(
        "--no-nesterov",
        dest="optimizer.nesterov",
        action="store_const",
        const=False,
        help="use plain (heavy-ball) momentum",
    )
    parser.add_argument(
        "--download",
        dest="download",
        action="store_const",
        const=True,
        help="download a missing data set (needs the network)",
    )
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set any field, e.g. --set schedule.options.gamma=0.5 (repeatable)",
    )


def _nest(path: str, value: Any) -> dict[str, Any]:
    for key in reversed(path.split(".")):
        value = {key: value}
    return value


def _parse_value(text: str) -> Any:
    """A --set value: YAML-style scalars and lists (numbers, true/false, [1, 2]), else the string."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("null", "none"):
            return None
        return text


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The fields the command line sets, as a nested mapping."""
    from ember.train.config import ConfigError, merge

    result: dict[str, Any] = {}
    paths = [path for _, path, _, _ in FLAGS] + ["optimizer.nesterov", "download", "report", "monitor"]
    for path in paths:
        value = getattr(args, path, None)
        if value is not None:
            result = merge(result, _nest(path, value))
    for assignment in args.assignments:
        field, separator, text = assignment.partition("=")
        if not separator or not field:
            raise ConfigError([("--set", f"expected FIELD=VALUE, got {assignment!r}")])
        result = merge(result, _nest(field.strip(), _parse_value(text)))
    return result


def configuration(
    args: argparse.Namespace, base: str | None = None, defaults: dict[str, Any] | None = None
) -> Any:
    """The configuration of --config FILE (or ``base``, a file, if there is no --config), flags over it;
    ``defaults`` under both."""
    from ember.train.config import load_config_file, merge, resolve_config

    source = args.config or base
    raw: dict[str, Any] = merge(defaults or {}, load_config_file(source) if source else {})
    return resolve_config(merge(raw, overrides(args)), source)


def check_workers(config: Any) -> None:
    """Warn, as PyTorch's DataLoader does, about more loader workers than the machine has CPUs."""
    import os
    import warnings

    cpus = os.cpu_count() or 1
    if config.workers > cpus:
        warnings.warn(
            f"--workers {config.workers} is more than this machine's {cpus} CPUs: the extra threads only "
            f"wait and hold batches in memory; use --workers {min(cpus, 2)} or fewer",
            stacklevel=2,
        )


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember.train import run as runs

        config = configuration(args)
        check_workers(config)
        if getattr(args, "ensemble", None):
            return train_ensemble(config, args.ensemble)
        return run_status(runs.start(config))  # which refuses a run this machine cannot hold

    return guarded("train", action)


def train_ensemble(config: Any, members: int) -> int:
    """K runs of ``config`` with seeds seed .. seed+K-1, then each one's test accuracy and the ensemble's
    (written to NAME-ensemble.json beside the runs)."""
    import copy
    import json
    import time
    from pathlib import Path

    from ember.atomic import atomic_write
    from ember.train import run as runs
    from ember.train.ensemble import describe, measure_ensemble

    base = config.name or f"{config.dataset}-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    directories = []
    for index in range(members):
        member = copy.deepcopy(config)
        member.seed, member.name = config.seed + index, f"{base}-seed{config.seed + index}"
        print(f"ensemble member {index + 1} of {members} (seed {member.seed})", flush=True)
        result = runs.start(member)
        if not result.finished:
            return run_status(result)
        directories.append(result.directory)
    report = measure_ensemble(directories)
    path = Path(config.output) / f"{base}-ensemble.json"
    atomic_write(path, json.dumps(report, indent=2) + "\n")
    print(describe(report))
    print(f"ensemble report: {path}")
    return 0
