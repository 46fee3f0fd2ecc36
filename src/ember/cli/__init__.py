"""The ``ember`` command: a thin dispatcher; each subcommand lives in its own module.

A command module has ``add_parser(subparsers)``, which declares its arguments and sets ``run`` (a function of
the parsed arguments returning the exit status). Modules import what they need inside ``run``, so
``ember --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ["demo", "train", "resume", "evaluate", "predict"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ember", description="Ember: deep learning for vision, on NumPy")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"ember.cli.{name}").add_parser(commands)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
