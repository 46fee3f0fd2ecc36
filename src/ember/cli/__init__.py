"""The ``ember`` command: a thin dispatcher; each subcommand lives in its own module.

A command module has ``add_parser(subparsers)``, which declares its arguments, and ``run(args)``, which
returns the exit status (``add_parser`` may point ``run`` elsewhere with ``set_defaults(run=...)``).
Modules import what they need inside ``run``, so ``ember --help`` stays fast. Mistakes on the command
line are answered by ``ember.cli.parser``: the subcommand's usage and one line naming the argument.
"""

from __future__ import annotations

import importlib
import sys

from ember import __version__
from ember.cli.parser import Parser, reject_unknown_command

# command -> module in ember.cli
COMMANDS = {
    "demo": "demo",
    "train": "train",
    "doctor": "doctor",
    "search": "search",
    "tune": "tune",
    "resume": "resume",
    "eval": "evaluate",
    "predict": "predict",
    "report": "report",
    "summary": "summary",
    "export": "export",
}


def build_parser() -> tuple[Parser, dict[str, Parser]]:
    """The top-level parser and each command's."""
    parser = Parser(prog="ember", description="Ember: deep learning for vision, on NumPy")
    parser.add_argument("--version", action="version", version=f"ember {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(f"ember.cli.{module}").add_parser(commands)
    # the subparsers are made with their parent's class
    return parser, {
        name: command for name, command in commands.choices.items() if isinstance(command, Parser)
    }


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    reject_unknown_command(parser, list(COMMANDS), argv)
    args, extras = parser.parse_known_args(argv)
    if extras:
        commands[args.command].reject_extras(extras)
    run = getattr(args, "run", None) or importlib.import_module(f"ember.cli.{COMMANDS[args.command]}").run
    return int(run(args))


if __name__ == "__main__":
    sys.exit(main())
