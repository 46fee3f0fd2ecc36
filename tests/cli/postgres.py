"""A private PostgreSQL cluster for one test: made with ``initdb``, started with ``pg_ctl`` on 127.0.0.1 at
a free port (its unix socket in its own folder), stopped and removed at the end, failures included.

The server refuses to run as root, so under root the cluster belongs to the ``postgres`` user and every
command runs as that user (``runuser``, else ``su``). Debian's ``postgresql`` package puts the programs in
``/usr/lib/postgresql/VERSION/bin``; CI installs it (``.ci/run``). Without it the tests that need it skip.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on the PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    """``command`` as the cluster's owner: this user, or ``postgres`` when this is root."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]


@contextlib.contextmanager
def private_cluster() -> Iterator[str]:
    """A running cluster for the duration of the block: its SQLAlchemy URL (user ``ember``, no password)."""
    folder = binaries()
    if folder is None:
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql)")
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user to run the server as")
    root = Path(tempfile.mkdtemp(prefix="ember-pg-", dir="/tmp"))  # a folder the postgres user can reach
    data = root / "data"
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
        subprocess.run(
            _as_owner(
                [str(folder / "initdb"), "-D", str(data), "-U", "ember", "--auth=trust", "-E", "UTF8", "-N"]
            ),
            **run,
        )
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} -c fsync=off"
        start = [
            str(folder / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
        ]
        subprocess.run(_as_owner([*start, "start"]), **run)
        try:
            yield f"postgresql+psycopg2://ember@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                _as_owner([str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), **run
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
