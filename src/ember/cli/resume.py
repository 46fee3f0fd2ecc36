"""``ember resume RUN``: continue a stopped run from its last checkpoint, exactly where it stopped.

The run directory holds the configuration and ``checkpoints/last.safetensors``: the model, optimizer and
schedule state, the epoch and step, and every random generator's state, so the continued run computes the
same numbers the uninterrupted one would have. A run killed in any way (Ctrl-C, SIGTERM, SIGKILL, a crash)
can be resumed at once: its directory's lock died with it (``ember.train.rundir``); a run still going is
refused (``... is in use by another ember process (PID N)``, exit 1).

What may change (``ember.train.resuming``): ``--epochs N`` trains to N epochs in all, and the learning-rate
schedule is re-laid over N epochs: from the step where the run stopped, the rate is the one a run started
with ``--epochs N`` has at that step (a finished cosine run jumps back up to that curve and anneals to 0 at
epoch N). ``--data-root`` says where the data is now. In ``config.yaml`` the same fields and ``workers``,
``checkpoint_every``, ``report`` and ``download`` may be edited; any other edit is refused with the fields
named (exit 2), since the saved state was computed with the old values. Each resume and what it changed is
recorded in ``RUN/resumes.jsonl``.
"""

from __future__ import annotations

import argparse
from typing import Any

from ember.cli.common import guarded, run_status
from ember.cli.parser import whole_number


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("resume", help="continue a stopped run from its last checkpoint")
    parser.add_argument(
        "run_dir",
        metavar="RUN",
        help="the run directory (or its checkpoints/last.safetensors)",
    )
    parser.add_argument(
        "--epochs", type=whole_number(1), metavar="N", help="train to this many epochs in all"
    )
    parser.add_argument(
        "--data-root", metavar="DIR", help="folder holding the data set's files, if they have moved"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember.train import run as runs

        return run_status(runs.resume(args.run_dir, epochs=args.epochs, data_root=args.data_root))

    return guarded("resume", action)
