"""Argument parsing for the ``ember`` command: every mistake is one message, with the command's usage.

``Parser`` is argparse's parser with two changes. An error prints the subcommand's usage (not the top
level's) and one line ``ember train: what is wrong``, exit status 2. And an unknown option is answered
with the closest known one, as the configuration file's unknown fields are: ``ember train: unknown option
--learning-rate; did you mean --lr?``. Close means ``difflib``'s similarity over the command's flags, plus
the other names a user may know a setting by (a command's ``aliases``: ``learning-rate`` for ``--lr``,
configuration fields that have no flag of their own for ``--set FIELD=VALUE``).

The value types below (``whole_number``) say what a flag takes in their error: ``argument --steps: must be
a whole number >= 1, got 0``.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable
from typing import NoReturn

USAGE_STATUS = 2  # ember.cli.common.USAGE (not imported: this module stays free of ember's layers)


def normalize(option: str) -> str:
    """'--Learning_Rate=0.1' -> 'learning-rate': how two spellings of an option are compared."""
    return option.split("=", 1)[0].lstrip("-").lower().replace("_", "-")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors name the command and suggest the option that was meant.

    ``aliases``, if set, returns {other name: suggestion}, e.g. {"learning-rate": "--lr"}; it is called
    only when an unknown option is to be explained.
    """

    aliases: Callable[[], dict[str, str]] | None = None

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_STATUS, f"{self.prog}: {message}\n")

    def suggestion(self, option: str) -> str | None:
        """The flag (or the words) that ``option`` most likely meant, or None."""
        known: dict[str, str] = {}
        for action in self._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and action.help != argparse.SUPPRESS:
                    known[normalize(flag)] = flag
        if self.aliases is not None:
            for name, meant in self.aliases().items():
                known.setdefault(normalize(name), meant)
        name = normalize(option)
        if name in known:
            return known[name]
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
        return known[close[0]] if close else None

    def reject_extras(self, extras: list[str]) -> NoReturn:
        """Report the first argument the command did not recognize."""
        options = [extra for extra in extras if extra.startswith("-") and extra != "-"]
        if not options:
            self.error(f"unexpected argument {extras[0]!r}; see '{self.prog} --help'")
        option = options[0].split("=", 1)[0]
        meant = self.suggestion(option)
        hint = f"did you mean {meant}?" if meant else f"see '{self.prog} --help' for the options"
        self.error(f"unknown option {option}; {hint}")


def reject_unknown_command(parser: Parser, commands: list[str], argv: list[str]) -> None:
    """``ember trian`` and ``ember --verison``: the closest command or option, instead of argparse's list
    of choices or its 'the following arguments are required: COMMAND'.

    The top level takes no option with a value, so its first argument that is not an option is the command.
    """
    for arg in argv:
        if arg in ("-h", "--help", "--version"):
            return
        if arg.startswith("-"):
            parser.reject_extras([arg])
        if arg in commands:
            return
        close = difflib.get_close_matches(arg, commands, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        parser.error(f"unknown command '{arg}'; {hint}the commands are: {', '.join(commands)}")


def whole_number(minimum: int = 1, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from ``minimum`` (to ``maximum``), with an error that says so."""
    bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum:,}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number {bounds}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be a whole number {bounds}, got {value}")
        return value

    parse.__name__ = f"whole number {bounds}"
    return parse
