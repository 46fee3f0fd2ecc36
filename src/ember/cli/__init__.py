"""The ``ember`` command."""

from __future__ import annotations

import argparse
import sys

from ember.cli import summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ember", description="Ember: deep learning for vision, on NumPy")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a small network with the bare engine, printing its loss")
    demo.add_argument("--steps", type=int, default=2000)
    summary.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ember.cli.demo import run

        run(steps=args.steps)
    elif args.command == "summary":
        return summary.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
