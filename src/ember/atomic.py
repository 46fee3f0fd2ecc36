"""Files written all or nothing: checkpoints, exported weights, downloads, a run's config, summary and report.

A file is written to a temporary file beside its target (``.NAME.tmp-PID``), flushed to disk (``fsync``)
and renamed over the target with ``os.replace``, which is atomic on one file system: a process killed
mid-write leaves the previous file intact, and a write that fails removes its temporary file.

A write that the system refuses (a full disk, a used-up quota, a read-only folder, no permission) raises
``WriteError``: an ``OSError`` with the same ``errno`` whose message names the file, says what happened
and what to do, instead of a traceback from deep inside a writer. ``writing(path)`` gives the same message
for the writes that are not whole files (a log appended line by line, a folder made).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ember.errors import EmberError

CHUNK = 1 << 20

# errno -> (what happened, what to do); {folder} is the folder of the file that could not be written
REFUSALS = {
    errno.ENOSPC: ("no space left on the disk", "free some space on that disk"),
    errno.EDQUOT: ("the disk quota is used up", "free some space (or ask for a larger quota)"),
    errno.EROFS: ("the file system is read-only", "write somewhere else"),
    errno.EACCES: ("permission denied", "make {folder} writable, or write somewhere else"),
    errno.EPERM: ("operation not permitted", "make {folder} writable, or write somewhere else"),
}


class WriteError(EmberError, OSError):
    """A file or folder could not be written; ``str()`` names it, says why and what to do.

    ``errno`` is the system's (28 for a full disk); ``path`` is the file meant, not its temporary twin.
    """

    def __init__(self, path: str | os.PathLike[str], error: OSError, advice: str | None = None) -> None:
        self.path = Path(path)
        what, todo = REFUSALS.get(error.errno or 0, (error.strerror or str(error), ""))
        self.reason = what
        self.advice = advice if advice is not None else todo.format(folder=self.path.parent)
        text = f"cannot write {self.path}: {what}" + (f"; {self.advice}" if self.advice else "")
        super().__init__(error.errno, text, str(self.path))

    def __str__(self) -> str:
        return str(self.strerror)


def is_refusal(error: BaseException) -> bool:
    """Whether ``error`` is the system refusing a write (full disk, read-only, no permission)."""
    return isinstance(error, OSError) and error.errno in REFUSALS


@contextlib.contextmanager
def writing(path: str | os.PathLike[str], temporary: Path | None = None) -> Iterator[None]:
    """Turn a refused write inside the block into a ``WriteError`` naming ``path`` (or the folder or file
    the system named, if another; a ``temporary`` twin of ``path`` is reported as ``path``)."""
    try:
        yield
    except WriteError:
        raise
    except OSError as error:
        if not is_refusal(error):
            raise
        named = error.filename
        meant = path if named is None or (temporary is not None and Path(named) == temporary) else named
        raise WriteError(meant, error) from error


def temporary_name(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary handle whose contents replace ``path`` when the block ends without an error."""
    path = Path(path)
    temporary = temporary_name(path)
    try:
        with writing(path, temporary):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (not possible on every platform)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_chunks(handle: BinaryIO, data: bytes) -> None:
    """Write ``data`` in 1 MiB pieces (a large file is never copied whole again on its way out)."""
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        handle.write(view[start : start + CHUNK])


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` all or nothing."""
    with atomic_file(path) as handle:
        write_chunks(handle, data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)
