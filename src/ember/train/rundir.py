"""Run directories: each is owned by one run, from its first file to its last.

The rule. ``ember train`` writes only into a directory that is new or empty, and ``ember train``, ``ember
resume`` and ``ember report`` hold the directory's lock while they write. The lock is ``RUN/.lock``, locked
with the kernel's advisory file lock (``flock``; ``msvcrt.locking`` on Windows) and holding the owner's
PID. So:

- a second run into the same ``--name`` is refused: ``runs/x is in use by another ember process (PID
  1234)`` while the first one runs, ``runs/x already holds a run`` after it (continue it with ``ember
  resume``, or choose another ``--name``). Without ``--name`` the default name (data set, model, date and
  time) gets a suffix (``-2``, ``-3``, ...) when two runs start in the same second, and the run says so;
- the kernel releases the lock of a process that ends in any way, SIGKILL and power loss included, so a
  killed run leaves no stale lock: ``ember resume`` takes the directory over at once. The file itself is
  left in place (deleting a lock file is what lets two processes both believe they hold it); the PID in
  it only names the last owner, the lock is what counts.
"""

from __future__ import annotations

import datetime
import errno
import os
import sys
from pathlib import Path
from types import TracebackType

from ember.atomic import writing
from ember.errors import EmberError
from ember.train.callbacks.checkpoint import LAST
from ember.train.config import TrainConfig

LOCK_FILE = ".lock"
CONFIG_FILE = "config.yaml"
UNLOCKABLE = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)  # file systems without locks (some NFS setups)


class RunDirectoryError(EmberError, ValueError):
    """The directory cannot be used as asked (taken by another run, not a run, changed by hand)."""

    exit_status = 2  # like a bad argument: change it and run again


class RunInUseError(EmberError, RuntimeError):
    """Another live process holds the run directory."""


def _try_lock(descriptor: int) -> bool:
    """Take the lock without waiting; False if another process holds it."""
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in UNLOCKABLE:
            return True  # no locking here: the directory checks below still keep runs apart
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            return False
        raise
    return True


class RunLock:
    """The lock of a run directory, held until ``release`` (or the end of a ``with`` block)."""

    def __init__(self, directory: Path, descriptor: int) -> None:
        self.directory, self.descriptor = directory, descriptor

    @classmethod
    def acquire(cls, directory: str | os.PathLike[str]) -> RunLock:
        """Lock ``directory`` for this process, or raise ``RunInUseError`` naming the process that has it."""
        directory = Path(directory)
        path = directory / LOCK_FILE
        with writing(path):
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(descriptor):
            with open(descriptor, closefd=True) as handle:
                holder = handle.read().strip() or "unknown"
            raise RunInUseError(
                f"{directory} is in use by another ember process (PID {holder}): wait for it to end, "
                "or use another run directory"
            )
        with writing(path):
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
        return cls(directory, descriptor)

    def release(self) -> None:
        if self.descriptor < 0:
            return
        os.close(self.descriptor)  # closing the file releases the lock
        self.descriptor = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


def contents(directory: Path) -> list[str]:
    """What a directory holds besides its lock file (sorted names)."""
    return sorted(p.name for p in directory.iterdir() if p.name != LOCK_FILE)


def default_name(config: TrainConfig) -> str:
    """``dataset-model-YYYYmmdd-HHMMSS``."""
    return f"{config.dataset}-{config.model}-{datetime.datetime.now():%Y%m%d-%H%M%S}"


def taken_message(directory: Path) -> str:
    if (directory / "checkpoints" / LAST).exists():
        return (
            f"{directory} already holds a run: continue it with 'ember resume {directory}', "
            "or choose another --name"
        )
    held = ", ".join(contents(directory)[:4])
    return f"{directory} is not empty ({held}): choose another --name, or delete the folder first"


def _claim(directory: Path) -> RunLock:
    """The lock of ``directory``, which must be new or empty."""
    with writing(directory):
        directory.mkdir(parents=True, exist_ok=True)
    if contents(directory) and not (directory / LOCK_FILE).exists():  # a folder no run made: leave it be
        raise RunDirectoryError(taken_message(directory))
    lock = RunLock.acquire(directory)  # a run's folder: is that run still going?
    if contents(directory):  # checked under the lock: nobody can fill it between the check and the run
        lock.release()
        raise RunDirectoryError(taken_message(directory))
    return lock


def create(config: TrainConfig) -> tuple[Path, RunLock, str | None]:
    """A new run directory ``output/name``, locked: (directory, lock, a note if the default name was taken).

    An explicit ``name`` that is taken is refused; the default name gets the first free suffix.
    """
    output = Path(config.output)
    if config.name:
        return output / config.name, _claim(output / config.name), None
    base = default_name(config)
    for attempt in range(1, 100):
        directory = output / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            lock = _claim(directory)
        except (RunInUseError, RunDirectoryError):
            continue
        return directory, lock, None if attempt == 1 else f"{output / base} is taken"
    raise RunDirectoryError(f"{output / base}: no free run directory name: pass --name")


def existing(path: str | os.PathLike[str]) -> Path:
    """The run directory of ``path`` (a run directory, or a checkpoint inside one), which must hold a run."""
    directory = Path(path)
    if directory.is_file():  # a checkpoint: RUN/checkpoints/NAME.safetensors
        directory = directory.parent.parent
    if not (directory / CONFIG_FILE).is_file():
        raise RunDirectoryError(f"{directory} is not a run directory (no {CONFIG_FILE} in it)")
    return directory
