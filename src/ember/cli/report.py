"""``ember report RUN``: (re)write a run's report: the best checkpoint measured on the test split again.

A run writes its report when it finishes; this remakes it, for a run finished without matplotlib, one
resumed and finished elsewhere, or after the report's code changed. The test predictions and images are
not stored in the run directory, so the best checkpoint is evaluated on the test split again (the same
numbers as at the end of the run) and ``summary.json`` and ``report/`` are rewritten.
"""

from __future__ import annotations

import argparse
from typing import Any

from ember.cli.common import OK, guarded


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("report", help="(re)write a run's HTML/PNG report from its best checkpoint")
    parser.add_argument("run_dir", metavar="RUN", help="the run directory")
    parser.add_argument(
        "--data-root", metavar="DIR", help="folder holding the data set's files (default: the run's)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from pathlib import Path

        from ember.train.run import rewrite_report

        page = rewrite_report(Path(args.run_dir), data_root=args.data_root)
        print(f"report: {page}")
        return OK

    return guarded("report", action)
