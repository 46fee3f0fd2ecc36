"""``ember tune``: the lectures' six steps for hyperparameters in one command (``ember.train.search.tune``).

The doctor's checks of steps 1-3 (the initial loss, overfitting a small sample, the learning-rate range
test), a coarse search with short runs around step 3's learning rate, a refined search with longer ones,
then the best configuration trained longer and tested; ``TUNE/index.html`` links the three reports. Takes
what ``ember train`` takes, and ``ember search``'s ``--param`` and budgets.

    ember tune --trials 16,8 --stage-epochs 2,8 --final-epochs 16 --workers 2

Exit statuses: 0 done, 4 a check flagged (nothing searched), 2 a bad configuration, 130 / 143 stopped
(``ember search resume TUNE/search`` continues).
"""

from __future__ import annotations

import argparse
from typing import Any

from ember.cli.common import OK, run_status
from ember.cli.search import SEARCH_FLAGS, add_space_arguments, search_request, searching
from ember.cli.train import add_config_arguments

# the search's options that make sense here (the strategy is coarse-to-fine, the best is trained longer)
TUNE_FLAGS = ("trials", "epochs", "pruner", "startup_trials", "top_k", "widen", "workers", "storage",
              "final_epochs", "heartbeat")  # fmt: skip


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "tune",
        help="the lectures' recipe: check the setup, search coarse then fine, train the best longer",
        description="Steps 1-6 of choosing hyperparameters: ember doctor's initial-loss, overfit and "
        "lr-find checks, a coarse-to-fine search (by default the learning rate a decade either side of the "
        "range test's, weight decay 1e-6..1e-3, both on a log scale), then the best trained longer.",
        conflict_handler="resolve",  # --workers is the search's
    )
    add_config_arguments(parser)
    add_space_arguments(parser, [flag for flag in SEARCH_FLAGS if flag[1] in TUNE_FLAGS])
    parser.add_argument("--skip-checks", action="store_true", help="go straight to the search (steps 4-6)")
    parser.set_defaults(run=run, mode=None)


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from ember.train.search.tune import tune

        base, space, settings = search_request(args)
        result = tune(base, space, settings, checks=not args.skip_checks)
        final = result.search.final if result.search is not None else None
        return run_status(final) if final is not None else OK

    return searching("tune", action)
