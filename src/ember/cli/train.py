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

# flag, field path, help; flags take strings that the configuration checks (so errors name the field)
FLAGS: list[tuple[str, str, str]] = [
    ("--model", "model", "architecture, a name from 'ember summary --list' (default small_cnn)"),
    ("--dataset", "dataset", "mnist, fashion-mnist, cifar10 or cifar100 (default fashion-mnist)"),
    ("--data-root", "data_root", "folder holding the data set's files (default: look in the usual places)"),
    ("--epochs", "epochs", "passes over the training split (default 8)"),
    ("--batch-size", "batch_size", "images per step (default 128)"),
    ("--optimizer", "optimizer.name", "sgd, adam, adamw, rmsprop, adagrad or adadelta (default sgd)"),
    ("--lr", "optimizer.lr", "learning rate (default: 0.05 for sgd, 1e-3 for adam)"),
    ("--momentum", "optimizer.momentum", "momentum (sgd default 0.9, Nesterov)"),
    ("--weight-decay", "optimizer.weight_decay", "the optimizer's weight decay (sgd default 5e-4)"),
    (
        "--schedule",
        "schedule.name",
        "learning-rate schedule: cosine (default), onecycle, linear, step, "
        "multistep, exponential, plateau, inverse-time, inverse-sqrt, constant",
    ),
    ("--schedule-interval", "schedule.interval", "step the schedule per 'step' or per 'epoch'"),
    ("--warmup-epochs", "schedule.warmup_epochs", "linear warm-up from lr/10 over these first epochs"),
    ("--l1", "regularization.l1", "L1 penalty strength: lambda * sum |W|"),
    ("--l2", "regularization.l2", "L2 penalty strength: lambda * sum W^2"),
    ("--label-smoothing", "label_smoothing", "cross-entropy label smoothing (default 0)"),
    ("--augment", "augment", "comma-separated: default, none, crop, flip, affine, jitter, erasing"),
    ("--early-stopping", "early_stopping", "stop after this many epochs without a better val accuracy"),
    ("--val-size", "val_size", "held-out validation images: a count, or a fraction < 1 (default 5000)"),
    ("--subset", "subset", "train on this many training images only (quick runs)"),
    ("--test-subset", "test_subset", "measure on the first N test images only"),
    ("--seed", "seed", "random seed: initialization, shuffling, augmentation, split (default 0)"),
    ("--workers", "workers", "loader threads preparing batches ahead (default 1)"),
    ("--output", "output", "folder for run directories (default runs)"),
    ("--name", "name", "run directory name (default dataset-model-date-time)"),
    ("--checkpoint-every", "checkpoint_every", "also save a resumable checkpoint every N steps"),
]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model (default: a small CNN on Fashion-MNIST)",
        description="Train a classifier into a run directory (config, metrics, checkpoints, report).",
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--no-report", dest="report", action="store_const", const=False, help="skip the HTML/PNG report"
    )
    parser.set_defaults(run=run)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, a flag per field of the table, --nesterov, --download and --set (train and search)."""
    parser.add_argument("--config", metavar="FILE", help="a YAML, TOML or JSON file of settings")
    for flag, path, text in FLAGS:
        parser.add_argument(flag, dest=path, metavar=flag.lstrip("-").split("-")[0].upper(), help=text)
    parser.add_argument(
        "--nesterov",
        dest="optimizer.nesterov",
        action="store_const",
        const=True,
        help="use Nesterov momentum (sgd default when momentum > 0)",
    )
    parser.add_argument("--no-nesterov", dest="optimizer.nesterov", action="store_const", const=False)
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
    paths = [path for _, path, _ in FLAGS] + ["optimizer.nesterov", "download", "report"]
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


def configuration(args: argparse.Namespace, base: str | None = None) -> Any:
    """The configuration of --config FILE (or ``base``, a file, if there is no --config), flags over it."""
    from ember.train.config import load_config_file, merge, resolve_config

    source = args.config or base
    raw: dict[str, Any] = load_config_file(source) if source else {}
    return resolve_config(merge(raw, overrides(args)), source)


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember.train import run as runs

        config = configuration(args)
        return run_status(runs.start(config))

    return guarded("train", action)
