"""A framework's side of a benchmark in a process of its own, driven over a pipe: one line in (what to run
next), one JSON line out (what it measured). The child prints one JSON line when it is ready (its set-up's
figures), then answers each line it reads; closing its input ends it."""

from __future__ import annotations

import json
import subprocess
from typing import Any


class Peer:
    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = self.read()  # the child's first line: built, its data loaded

    def read(self) -> Any:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"a framework's process stopped (exit status {self.process.wait()})")
        return json.loads(line)

    def ask(self, request: object) -> Any:
        self.process.stdin.write(f"{request!r}\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return self.read()

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait()
