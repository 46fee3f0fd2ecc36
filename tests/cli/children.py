"""``ember`` in a child process that stops at a chosen training step: to kill it, signal it, or hold it
there while the test does something else (the step is ``self.step + 1``, so a resumed run counts on)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from threadpoolctl import threadpool_info

import ember

SOURCE = str(Path(ember.__file__).resolve().parents[1])

# PAUSE_ACTION at step PAUSE_STEP: "sleep" (until killed), "wait" (for a line on standard input) or
# "sigterm" (the child sends itself SIGTERM, as `kill PID` would).
PAUSE_AT_STEP = textwrap.dedent(
    """
    import os, signal, sys, time
    from ember.train.trainer import Trainer

    step, action = int(os.environ["PAUSE_STEP"]), os.environ["PAUSE_ACTION"]
    original = Trainer.training_step

    def training_step(self, inputs, targets):
        if self.step + 1 == step:
            print("STEP", step, flush=True)
            if action == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            elif action == "wait":
                sys.stdin.readline()
            else:
                time.sleep(600)
        return original(self, inputs, targets)

    Trainer.training_step = training_step
    from ember.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment, with Ember's source first and as many BLAS threads as here.

    The same thread count matters for bit-for-bit claims: OpenBLAS may round the last bit differently on
    another thread count (one under pytest-xdist). NumPy's BLAS counts, not another one an earlier test
    loaded (scipy's, with its own count: the child then multiplied on 2 threads and differed).
    """
    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    numpy_blas = [info for info in blas if "numpy" in info["filepath"]] or blas  # NumPy's wheels ship it
    threads = str(max(info["num_threads"] for info in numpy_blas))
    return {
        **os.environ,
        "PYTHONPATH": SOURCE + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OPENBLAS_NUM_THREADS": threads,
        "OMP_NUM_THREADS": threads,
        **extra,
    }


def spawn(script: str, args: list[str], prefix: list[str] | None = None, **env: str) -> subprocess.Popen[str]:
    """``python -c script args`` with pipes for all three streams (text)."""
    return subprocess.Popen(
        [*(prefix or []), sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(**env),
    )


def pause_at(step: int, action: str, args: list[str]) -> subprocess.Popen[str]:
    """``ember ARGS`` in a child that does ``action`` at training step ``step``, once it has said so.

    The lines up to "STEP" are read a byte at a time: a buffered read could take in what the child writes
    next ("stopped: ..." after a SIGTERM, on a busy machine) and keep it from ``communicate()``.
    """
    child = spawn(PAUSE_AT_STEP, args, PAUSE_STEP=str(step), PAUSE_ACTION=action)
    assert child.stdout is not None
    while line := _read_line(child.stdout.fileno()):
        if line.startswith("STEP"):
            return child
    child.wait(timeout=60)
    raise AssertionError(f"the child ended before step {step}: {child.stderr.read() if child.stderr else ''}")


def _read_line(fd: int) -> str:
    """One line from a pipe without reading past it ('' at the end)."""
    data = b""
    while not data.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        data += byte
    return data.decode()


def unprivileged() -> list[str] | None:
    """A command prefix that runs a child without the power to write read-only files.

    [] for an ordinary user; for root (whom chmod does not stop), a user namespace in which the child is
    'nobody' and owns nothing it can write without the write bits; None if that is not possible here.
    """
    if os.geteuid() != 0:
        return []
    prefix = ["unshare", "--user", "--map-user=65534", "--map-group=65534"]
    if shutil.which("unshare") is None:
        return None
    try:
        done = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
    except OSError:
        return None
    return prefix if done.returncode == 0 else None
