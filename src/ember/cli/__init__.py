"""The ``ember`` command: a thin dispatcher; each subcommand lives in its own module.

A command module has ``add_parser(subparsers)``, which declares its arguments, and ``run(args)``, which
returns the exit status (``add_parser`` may point ``run`` elsewhere with ``set_defaults(run=...)``).
Modules import what they need inside ``run``, so ``ember --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> module in ember.cli
COMMANDS = {
    "demo": "demo",
    "train": "train",
    "search": "search",
    "resume": "resume",
    "eval": "evaluate",
    "predict": "predict",
    "report": "report",
    "summary": "summary",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ember", description="Ember: deep learning for vision, on NumPy")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(f"ember.cli.{module}").add_parser(commands)
    args = parser.parse_args(argv)
    run = getattr(args, "run", None) or importlib.import_module(f"ember.cli.{COMMANDS[args.command]}").run
    return int(run(args))


if __name__ == "__main__":
    sys.exit(main())
