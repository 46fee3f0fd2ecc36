"""``ember resume RUN``: continue a stopped run from its last checkpoint, exactly where it stopped.

The run directory holds the configuration and ``checkpoints/last.safetensors``: the model, optimizer and
schedule state, the epoch and step, and every random generator's state, so the continued run computes the
same numbers the uninterrupted one would have. ``--epochs N`` trains a finished run further, to N epochs
in all (the learning-rate schedule is stretched to the new length from where it is).
"""

from __future__ import annotations

import argparse
from typing import Any

from ember.cli.common import guarded, run_status
from ember.cli.parser import existing, whole_number


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("resume", help="continue a stopped run from its last checkpoint")
    parser.add_argument(
        "run_dir",
        metavar="RUN",
        type=existing("run directory"),
        help="the run directory (or its checkpoints/last.safetensors)",
    )
    parser.add_argument(
        "--epochs", type=whole_number(1), metavar="N", help="train to this many epochs in all"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember.train import run as runs

        return run_status(runs.resume(args.run_dir, epochs=args.epochs))

    return guarded("resume", action)
