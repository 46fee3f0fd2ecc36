"""``ember doctor``: babysit the learning process before training (``ember.train.doctor``).

Takes what ``ember train`` takes (the same flags, ``--config FILE``, ``--set``), or a run directory or a
config file as its argument (flags override it), builds that run's model, data and optimizer without
training or making a run directory, and runs the lectures' checklist on them: the initial loss, that
regularization raises it, overfitting a small sample (with a label-shuffle control), the learning-rate
range test (verified by short runs) and the layer statistics. Each finding is printed as it comes; the
report (``index.html``, the plots, ``findings.json``) goes to ``--report-dir`` (default ``RUN/doctor`` for a
run directory, else ``OUTPUT/doctor-DATASET-MODEL-TIME``). Exit status 0 when every check passes, 4 when
one is flagged.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ember.cli.common import FLAGGED, OK, guarded
from ember.cli.train import add_config_arguments, configuration

CHECK_NAMES = "initial-loss, regularization, overfit, lr-find, layers"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "doctor",
        help="check a training setup before training: initial loss, overfitting, learning rate, layers",
        description="Run the lectures' babysitting checklist on a training configuration (no training).",
    )
    parser.add_argument(
        "source",
        nargs="?",
        metavar="RUN_OR_CONFIG",
        help="a run directory (its config.yaml) or a config file; flags override it",
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--checks", metavar="LIST", help=f"comma-separated, in any order: {CHECK_NAMES} (default all)"
    )
    parser.add_argument("--report-dir", metavar="DIR", help="where to write the report (index.html, plots)")
    parser.add_argument(
        "--no-report", dest="doctor_report", action="store_false", help="print the findings only"
    )
    parser.set_defaults(run=run)


def _source(args: argparse.Namespace) -> tuple[str | None, Path | None]:
    """(the config file to start from, the default report folder) from the positional argument."""
    from ember.train.config import ConfigError
    from ember.train.rundir import CONFIG_FILE

    if not args.source:
        return None, None
    source = Path(args.source)
    if source.is_dir():
        if not (source / CONFIG_FILE).is_file():
            raise ConfigError(
                [("", f"{source}: not a run directory (no {CONFIG_FILE}); pass a run or a config file")]
            )
        return str(source / CONFIG_FILE), source / "doctor"
    return str(source), None


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember.train.callbacks.progress import duration
        from ember.train.config import ConfigError
        from ember.train.doctor import CHECKS, doctor
        from ember.train.run import build

        base, folder = _source(args)
        config = configuration(args, base)
        checks = [name.strip() for name in (args.checks or ",".join(CHECKS)).split(",") if name.strip()]
        unknown = [name for name in checks if name not in CHECKS]
        if unknown or not checks:
            raise ConfigError(
                [("--checks", f"unknown check(s) {', '.join(unknown)}; choose from {CHECK_NAMES}")]
            )
        directory = None
        if args.doctor_report:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            default = Path(config.output) / f"doctor-{config.dataset}-{config.model}-{stamp}"
            directory = Path(args.report_dir) if args.report_dir else folder or default
        report = doctor(config, checks, directory, pieces=build(config, can_download=True))
        passed = len(report.findings) - len(report.flagged)
        line = (
            f"doctor: {passed} of {len(report.findings)} checks passed ({duration(report.seconds['total'])})"
        )
        if report.flagged:
            line += "; flagged: " + ", ".join(finding.check for finding in report.flagged)
        print(line)
        if report.page is not None:
            print(f"report: {report.page}")
        return OK if report.ok else FLAGGED

    return guarded("doctor", action)
