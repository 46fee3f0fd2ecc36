"""``ember resume``: a run killed at any moment, even while writing a checkpoint, continues exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import ember
from ember.cli import main
from ember.train.callbacks import read_csv
from ember.train.checkpoint import load_checkpoint

from ..train.helpers import same_state
from .conftest import train_args

SOURCE = str(Path(ember.__file__).resolve().parents[1])

# Run `ember train` in a child process whose checkpoint writer stops half way through the second write of
# last.safetensors (the end of epoch 2), says so, and waits there to be killed.
KILLED_MID_WRITE = textwrap.dedent(
    """
    import os, sys, time
    import ember.atomic as atomic

    writes = {"last": 0}
    original = atomic.write_chunks

    def slow_write(handle, data):
        if ".last.safetensors.tmp-" in handle.name:
            writes["last"] += 1
            if writes["last"] == 2:
                handle.write(data[: len(data) // 2])
                handle.flush()
                os.fsync(handle.fileno())
                print("WRITING", handle.name, flush=True)
                time.sleep(600)
        original(handle, data)

    atomic.write_chunks = slow_write
    from ember.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.fixture
def one_blas_thread():
    """Every BLAS this process has loaded on one thread, as the child will be: NumPy's, and scipy's or
    torch's if an earlier test loaded them (the largest count among them used to be given to the child)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def test_a_run_killed_while_writing_a_checkpoint_resumes_from_the_previous_one(
    mnist_root, tmp_path, capsys, one_blas_thread
):
    args = train_args(mnist_root, tmp_path, "--epochs", "3", "--no-report")
    assert main(train_args(mnist_root, tmp_path, "--epochs", "3", "--no-report", name="straight")) == 0

    # The child must multiply on as many BLAS threads as this process, one: OpenBLAS may round the last bit
    # differently on another thread count, and bit-for-bit is the claim under test.
    blas_threads = "1"
    env = {
        **os.environ,
        "PYTHONPATH": SOURCE + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OPENBLAS_NUM_THREADS": blas_threads,
        "OMP_NUM_THREADS": blas_threads,
    }
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_WRITE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for line in child.stdout:
            if line.startswith("WRITING"):
                break
        else:
            raise AssertionError(f"the child finished without reaching the write: {child.stderr.read()}")
        temporary = Path(line.split()[1])
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL

    run = tmp_path / "run"
    assert temporary.exists() and temporary.parent == run / "checkpoints"  # the half-written file
    assert load_checkpoint(run / "checkpoints" / "last.safetensors")["progress"]["epoch"] == 1  # intact

    capsys.readouterr()
    assert main(["resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"resuming from {run / 'checkpoints' / 'last.safetensors'} (epoch 1, step 10)" in out
    assert not temporary.exists()  # cleaned up
    straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.safetensors")
    resumed = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert resumed["progress"]["epoch"] == 3
    assert same_state(straight["model"], resumed["model"])  # bit for bit
    assert same_state(straight["optimizer"]["state"][0], resumed["optimizer"]["state"][0])
    strip = [
        [{k: v for k, v in row.items() if k != "seconds"} for row in read_csv(path / "metrics.csv")]
        for path in (tmp_path / "straight", run)
    ]
    assert strip[0] == strip[1] and len(strip[0]) == 3


def test_resume_extends_a_finished_run(finished_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    assert main(["resume", str(run)]) == 2
    assert "has done its 2 epochs; pass --epochs" in capsys.readouterr().err
    assert main(["resume", str(run), "--epochs", "3"]) == 0
    history = read_csv(run / "metrics.csv")
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert "epochs: 3" in (run / "config.yaml").read_text()
    assert np.isfinite(history[-1]["train_loss"])


def test_resume_of_something_else_is_refused(tmp_path, capsys):
    assert main(["resume", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
