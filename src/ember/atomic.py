"""Files written all or nothing: checkpoints, exported weights and downloads.

A file is written to a temporary file beside its target (``.NAME.tmp-PID``), flushed to disk (``fsync``)
and renamed over the target with ``os.replace``, which is atomic on one file system: a process killed
mid-write leaves the previous file intact, and a write that fails removes its temporary file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def temporary_name(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary handle whose contents replace ``path`` when the block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    try:
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


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` all or nothing."""
    with atomic_file(path) as handle:
        write_chunks(handle, data)
    return Path(path)
