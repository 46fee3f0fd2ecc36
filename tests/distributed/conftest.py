"""Launching ``mpirun -np 2`` from a test: the launcher found beside this Python or on the PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Open MPI's flags: CI runs as root, and two processes may share fewer cores than that.
FLAGS = ["--allow-run-as-root", "--oversubscribe"]


def launcher() -> str | None:
    """The mpirun of the MPI that mpi4py loads: a wheel's (in this environment's bin), else the PATH's."""
    beside = Path(sys.executable).parent / "mpirun"
    return str(beside) if beside.exists() else shutil.which("mpirun")


@pytest.fixture(scope="session")
def mpirun() -> str:
    pytest.importorskip("mpi4py", reason="the MPI tests need mpi4py: pip install 'ember[mpi]'")
    found = launcher()
    if found is None:
        missing = "the MPI tests need mpirun: apt-get install openmpi-bin"
        if os.environ.get("CI"):  # CI installs it (.ci/run): a skip there would hide the equivalence test
            pytest.fail(missing)
        pytest.skip(missing)
    return found


def run(mpirun: str, arguments: list[str], timeout: float = 120, ranks: int = 2, **env: str):
    """``mpirun -np ranks python ARGUMENTS...`` with Ember from this checkout; the finished process. The
    collectives time out after a minute, so no rank outlives a test that gave up on it."""
    env = {"EMBER_DISTRIBUTED_TIMEOUT": "60", **env}
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), **env}
    exported = [flag for name in ("PYTHONPATH", *env) for flag in ("-x", name)]
    command = [mpirun, *FLAGS, *exported, "-np", str(ranks), sys.executable, *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)
