"""``ember lab NAME``: the lectures' experiments, each writing its figure and a short text into a folder
(``ember.viz.labs``); ``ember lab playground``: the 2-D classifier trained live in the browser.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from ember.cli.common import OK, guarded
from ember.cli.parser import whole_number
from ember.viz.labs import LABS


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "lab", help="the lectures' experiments (init, optimizers, ...) and the playground"
    )
    parser.add_argument(
        "name", choices=(*LABS, "playground"), metavar="NAME", help=f"{', '.join(LABS)} or playground"
    )
    parser.add_argument(
        "--output", metavar="DIR", default="labs", help="folder for the lab's folder (default labs)"
    )
    parser.add_argument("--tiny", action="store_true", help="a tiny, fast version (for tests)")
    parser.add_argument(
        "--port", type=whole_number(0), default=0, metavar="N", help="playground: the port (default free)"
    )
    parser.add_argument("--no-browser", action="store_true", help="playground: do not open a browser")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def action() -> int:
        from pathlib import Path

        if args.name == "playground":
            return playground(args)
        from ember.viz.labs import run_lab

        page = run_lab(args.name, Path(args.output), tiny=args.tiny, echo=print)
        print(f"lab {args.name}: {page}")
        return OK

    return guarded("lab", action)


def playground(args: argparse.Namespace) -> int:
    import webbrowser

    from ember.viz.playground import Playground, serve

    def ready(url: str) -> None:
        print(f"playground: {url} (Ctrl-C stops it)", flush=True)
        if not args.no_browser and not webbrowser.open(url):
            print("playground: no browser found here; open the address above in one", file=sys.stderr)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a server is stopped
        serve(Playground(), port=args.port, on_ready=ready)
    print("playground: stopped")
    return OK
