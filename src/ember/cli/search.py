"""``ember search``: hyperparameter search on Optuna, one machine or many (``ember.train.search``).

Takes what ``ember train`` takes (the same flags, ``--config FILE``, ``--set``) for the configuration the
trials start from, and the search: ``--param NAME=SCALE:LOW:HIGH`` per hyperparameter (``lr=log:1e-4:0.1``,
``model_options.dropout=uniform:0:0.5``, ``optimizer.name=choice:sgd,adam``; NAME is a field or an ``ember
train`` flag), or a ``search`` section in the config file (``space`` and the settings below; flags win).

    ember search --param lr=log:1e-3:0.3 --param weight-decay=log:1e-6:1e-2 --trials 16 --workers 2
    ember search resume SEARCH          continue a stopped search (finished trials are kept)
    ember search report SEARCH          rewrite results.csv and the page from the study
    ember search worker --storage URL --study NAME    join a search from another machine

Exit statuses: 0 done, 1 a failure (storage unreachable, a worker failed), 2 a bad configuration, 130 / 143
stopped by Ctrl-C / SIGTERM (resumable).
"""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ember.cli.common import OK, Terminated, guarded, run_status
from ember.cli.train import FLAGS, add_config_arguments, overrides

# flag, setting, placeholder, help: the search's own options (they override the config file's search section)
SEARCH_FLAGS: list[tuple[str, str, str, str]] = [
    ("--strategy", "strategy", "NAME", "random (default), grid, tpe or coarse-to-fine"),
    ("--trials", "trials", "N[,N]", "trials to run (default 16); coarse-to-fine: per stage, e.g. 16,8"),
    ("--stage-epochs", "epochs", "N,N", "coarse-to-fine: epochs per stage, e.g. 2,8 (default E/4, E)"),
    ("--grid-points", "grid_points", "N", "grid: values per range (default 3)"),
    ("--pruner", "pruner", "NAME", "median (default), halving or none: stop trials that fall behind"),
    ("--startup-trials", "startup_trials", "N", "finished trials before the pruner judges (default 4)"),
    ("--top-k", "top_k", "K", "coarse-to-fine: trials the next ranges are drawn around (default a quarter)"),
    ("--widen", "widen", "F", "coarse-to-fine: widen the top trials' span by F of it a side (default 0.5)"),
    ("--workers", "workers", "N", "local worker processes (default 1; 0: only workers started elsewhere)"),
    ("--storage", "storage", "URL", "Optuna storage: postgresql+psycopg2://..., sqlite:///FILE or memory"),
    ("--study", "study", "NAME", "the study's name (default: the search directory's name)"),
    ("--final-epochs", "final_epochs", "N", "--then-train: epochs (default twice the last stage's, >= 10)"),
    ("--heartbeat", "heartbeat", "SECONDS", "between a trial's heartbeats; 3 missed: its worker is gone"),
]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "search",
        help="hyperparameter search (random, grid, TPE, coarse-to-fine) on one machine or many",
        description="Search hyperparameters: each trial is an ember train run; Optuna samples and prunes. "
        "The training flags are ember train's, except --workers: here the search's worker processes "
        "(the trials' loader threads: --set workers=N).",
        conflict_handler="resolve",  # --workers is the search's
    )
    add_config_arguments(parser)
    add_space_arguments(parser, SEARCH_FLAGS)
    parser.add_argument(
        "--then-train", dest="search.then_train", action="store_const", const=True,
        help="then train the best configuration longer and measure it on the test split",
    )  # fmt: skip
    parser.add_argument(
        "--no-report",
        dest="search.report",
        action="store_const",
        const=False,
        help="no HTML report per trial",
    )
    modes = parser.add_subparsers(
        dest="mode", metavar="MODE", help="resume, report or worker (none: start a new search)"
    )
    resume = modes.add_parser("resume", help="continue a stopped search")
    resume.add_argument("directory", metavar="SEARCH", help="the search directory")
    resume.add_argument("--workers", dest="resume_workers", type=int, help="local worker processes")
    report = modes.add_parser("report", help="rewrite a search's results.csv and page from its study")
    report.add_argument("directory", metavar="SEARCH", help="the search directory")
    worker = modes.add_parser("worker", help="work on a search's study (from any machine)")
    worker.add_argument("--storage", dest="worker_storage", metavar="URL", help="the study's storage URL")
    worker.add_argument(
        "--study", dest="worker_study", metavar="NAME", required=True, help="the study's name"
    )
    worker.add_argument("--stage", type=int, help="work on this stage only (default: every stage, in order)")
    worker.add_argument(
        "--worker", type=int, help="this worker's number, which seeds its sampler (default random)"
    )
    worker.add_argument(
        "--output", dest="worker_output", metavar="DIR", help="where the trials' run directories go"
    )
    worker.add_argument(
        "--data-root", dest="worker_data_root", metavar="DIR", help="the data set's folder here"
    )
    parser.set_defaults(run=run)


def add_space_arguments(parser: Any, flags: list[tuple[str, str, str, str]]) -> None:
    """--param and the search options ``flags`` (search and tune)."""
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="a hyperparameter: lr=log:1e-4:0.1, momentum=uniform:0.8:0.99, batch-size=int:32:256, "
        "optimizer.name=choice:sgd,adam (repeatable)",
    )
    for flag, setting, placeholder, text in flags:
        parser.add_argument(flag, dest=f"search.{setting}", metavar=placeholder, help=text)


def aliases() -> dict[str, str]:
    """``ember train`` flag names for fields: ``lr`` -> ``optimizer.lr``."""
    return {flag.lstrip("-"): path for flag, path, _, _ in FLAGS}


def search_request(args: argparse.Namespace) -> tuple[dict[str, Any], Any, Any]:
    """(the base configuration as a raw mapping, the space, the settings) from the config file and flags."""
    from ember.train.config import ConfigError, load_config_file, merge
    from ember.train.search.settings import read_settings
    from ember.train.search.space import parse_param, parse_space, unique

    raw: dict[str, Any] = load_config_file(args.config) if args.config else {}
    section = raw.pop("search", {}) or {}
    if not isinstance(section, dict):
        raise ConfigError(
            [("search", f"expected a mapping (space, strategy, trials, ...), got {section!r}")], args.config
        )
    space_raw = section.pop("space", {})
    flags = {
        key.split(".", 1)[1]: value
        for key, value in vars(args).items()
        if key.startswith("search.") and value is not None
    }
    settings, problems = read_settings({**section, **flags})
    space, found = parse_space(space_raw, aliases=aliases()) if space_raw else ([], [])
    problems += found
    given = []
    for text in args.param:
        name, separator, spec = text.partition("=")
        if not separator or not name.strip():
            problems.append(("--param", f"expected NAME=SCALE:LOW:HIGH, got {text!r}"))
            continue
        param = parse_param(name, spec, f"--param {name.strip()}", problems, aliases())
        if param is not None:
            given.append(param)
    if given:  # flags replace the file's parameters of the same name and add the others
        names = {param.name for param in given}
        space = [param for param in space if param.name not in names] + unique(given, problems, "--param")
    if problems:
        raise ConfigError(problems, args.config)
    return merge(raw, overrides(args)), space, settings


def run(args: argparse.Namespace) -> int:
    return searching("search", lambda: dispatch(args))


def searching(command: str, action: Callable[[], int]) -> int:
    """``guarded(command, action)``, a stopped trial's signal turned into the command's exit status."""

    def stopping() -> int:
        from ember.train.search.trial import TrialInterrupted

        try:
            return action()
        except TrialInterrupted as stop:  # the trial has queued its retry; say how it was stopped
            if stop.signal == signal.SIGTERM:
                raise Terminated from None
            raise KeyboardInterrupt from None

    return guarded(command, stopping)


def dispatch(args: argparse.Namespace) -> int:
    """The mode asked for; the exit status (the final run's, with --then-train)."""
    from ember.train.search import runner

    if args.mode == "worker":
        return join(args)
    if args.mode in ("resume", "report"):
        from ember.train.search.tune import refresh_page

        if args.mode == "resume":
            result = runner.resume(args.directory, workers=args.resume_workers)
        else:
            result = runner.report(Path(args.directory))
        tuned = refresh_page(Path(args.directory), result)  # a tune's search/: its page too
        if tuned is not None:
            print(f"tune report: {tuned}")
    else:
        base, space, settings = search_request(args)
        result = runner.start(base, space, settings)
    return run_status(result.final) if result.final is not None else OK


def join(args: argparse.Namespace) -> int:
    """``ember search worker``: work on the study's trials until its stages are done."""
    from ember.train.search import runner
    from ember.train.search import study as studies
    from ember.train.search.worker import work

    url = args.worker_storage or os.environ.get(runner.STORAGE_ENV)
    if not url:
        raise studies.SearchError(f"pass --storage URL (or set {runner.STORAGE_ENV})")
    plan = studies.read_plan(studies.open_storage(url), args.worker_study)
    storage = studies.open_storage(url, plan["settings"]["heartbeat"])
    if args.worker_data_root:
        plan["base"]["data_root"] = os.path.abspath(args.worker_data_root)
    worker = args.worker if args.worker is not None else studies.default_worker_id()
    output = Path(args.worker_output or plan["study"])
    ran = work(storage, plan, worker, output, [args.stage] if args.stage else None)
    print(f"worker {worker}: {ran} trial(s) run; nothing left to do")
    return OK
