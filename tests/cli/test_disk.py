"""A full disk or a read-only run directory: one message naming the file, what happened and what to do;
nothing half-written, and the last checkpoint left to resume from.

A full disk is injected at the system call that reports it: ``os.fsync``, which is where a disk with delayed
allocation (ext4, XFS, NFS) says ENOSPC. Read-only directories are real: ``chmod``, with the command run as
an ordinary user (root is not stopped by chmod, so as root the child runs as 'nobody' in a user namespace).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ember.cli import main
from ember.train.callbacks import read_csv
from ember.train.checkpoint import load_checkpoint

from .children import child_env, unprivileged
from .conftest import train_args


def full_disk(monkeypatch: pytest.MonkeyPatch, refuse: Callable[[str], bool]) -> None:
    """``os.fsync`` of the files for which ``refuse(path)`` is true fails with ENOSPC."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to tell which file is being synced")
    real = os.fsync

    def fsync(descriptor: int) -> None:
        if refuse(os.readlink(f"/proc/self/fd/{descriptor}")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_full_disk_stops_the_run_and_leaves_the_last_checkpoint(mnist_root, tmp_path, capsys, monkeypatch):
    saves = []

    def second_save_of_last(path: str) -> bool:
        if ".last.safetensors.tmp-" in path:
            saves.append(path)
        return len(saves) == 2

    full_disk(monkeypatch, second_save_of_last)
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.safetensors"
    assert main(train_args(mnist_root, tmp_path, "--epochs", "3")) == 1
    assert capsys.readouterr().err == (
        f"ember train: cannot write {last}: no space left on the disk; free some space on that disk, then "
        f"continue with 'ember resume {run}' (nothing was half-written: {last} is intact, epoch 1, step 10)\n"
    )
    assert load_checkpoint(last)["progress"]["epoch"] == 1
    assert not [p for p in (run / "checkpoints").iterdir() if ".tmp-" in p.name]

    monkeypatch.undo()  # space was freed
    assert main(["resume", str(run)]) == 0
    assert [row["epoch"] for row in read_csv(run / "metrics.csv")] == [1, 2, 3]
    assert (run / "report" / "index.html").exists()


def test_a_full_disk_after_training_says_to_write_the_report_again(mnist_root, tmp_path, capsys, monkeypatch):
    full_disk(monkeypatch, lambda path: ".summary.json.tmp-" in path)
    run = tmp_path / "run"
    assert main(train_args(mnist_root, tmp_path, "--epochs", "1")) == 1
    assert capsys.readouterr().err == (
        f"ember train: cannot write {run / 'summary.json'}: no space left on the disk; free some space on "
        f"that disk, then run 'ember report {run}' again (the files already there are intact)\n"
    )
    monkeypatch.undo()
    assert main(["report", str(run)]) == 0
    assert (run / "summary.json").exists() and (run / "report" / "index.html").exists()


def test_a_full_disk_while_writing_the_report_keeps_the_previous_report(
    finished_run, tmp_path, capsys, monkeypatch
):
    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    page = run / "report" / "index.html"
    before = page.read_bytes()
    full_disk(monkeypatch, lambda path: ".index.html.tmp-" in path)
    assert main(["report", str(run)]) == 1
    assert capsys.readouterr().err == (
        f"ember report: cannot write {page}: no space left on the disk; free some space on that disk, "
        f"then run 'ember report {run}' again (the files already there are intact)\n"
    )
    assert page.read_bytes() == before
    assert not [p for p in (run / "report").iterdir() if ".tmp-" in p.name]


def read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)


def ember_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """``ember ARGS`` as a user whom chmod stops (see the module docstring)."""
    prefix = unprivileged()
    if prefix is None:
        pytest.skip("running as root without user namespaces: chmod cannot make a folder read-only for root")
    return subprocess.run(
        [*prefix, sys.executable, "-m", "ember.cli", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=300,
    )


@pytest.fixture
def copied_run(finished_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    yield run
    for path in [run, *run.rglob("*")]:  # let pytest clean up
        path.chmod(path.stat().st_mode | 0o200)


def test_a_read_only_run_directory(copied_run):
    read_only(copied_run)
    lock = copied_run / ".lock"
    for command in (["report", str(copied_run)], ["resume", str(copied_run), "--epochs", "3"]):
        done = ember_unprivileged(*command)
        assert done.returncode == 1
        assert done.stderr == (
            f"ember {command[0]}: cannot write {lock}: permission denied; make {copied_run} writable, or "
            "write somewhere else\n"
        )
    assert load_checkpoint(copied_run / "checkpoints" / "last.safetensors")["progress"]["epoch"] == 2


def test_a_read_only_checkpoint_folder_stops_the_resumed_run(copied_run):
    read_only(copied_run / "checkpoints")
    done = ember_unprivileged("resume", str(copied_run), "--epochs", "3")
    last = copied_run / "checkpoints" / "last.safetensors"
    assert done.returncode == 1
    assert done.stderr == (
        f"ember resume: cannot write {last}: permission denied; make {last.parent} writable, or write "
        f"somewhere else, then continue with 'ember resume {copied_run}' (nothing was half-written: "
        f"{last} is intact, epoch 2, step 20)\n"
    )
    assert load_checkpoint(last)["progress"]["epoch"] == 2


def test_a_read_only_output_folder(mnist_root, tmp_path):
    output = tmp_path / "output"
    output.mkdir()
    read_only(output)
    try:
        done = ember_unprivileged(*train_args(mnist_root, output))
    finally:
        output.chmod(0o755)
    assert done.returncode == 1
    assert done.stderr == (
        f"ember train: cannot write {output / 'run'}: permission denied; make {output} writable, or write "
        "somewhere else\n"
    )
