"""``ember.atomic``: a refused write (full disk, read-only folder) names the file and keeps the old one."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ember.atomic import WriteError, atomic_file, atomic_write, temporary_name, writing


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full, a device that is always full")
def test_a_full_disk_names_the_file_and_keeps_the_previous_one(tmp_path: Path):
    target = atomic_write(tmp_path / "summary.json", b'{"old": true}')
    os.symlink("/dev/full", temporary_name(target))  # the temporary file lands on a full device: ENOSPC
    with pytest.raises(WriteError) as caught:
        atomic_write(target, b'{"new": true}' * 100_000)
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert (
        str(caught.value) == f"cannot write {target}: no space left on the disk; free some space on that disk"
    )
    assert target.read_bytes() == b'{"old": true}'
    assert os.listdir(tmp_path) == ["summary.json"]  # the temporary file is gone


def test_a_refusal_inside_the_block_is_reported_with_the_target(tmp_path: Path):
    refused = f"cannot write {tmp_path / 'a.png'}: the file system is read-only"
    with pytest.raises(WriteError, match=refused), atomic_file(tmp_path / "a.png") as handle:
        handle.write(b"x")
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    assert not (tmp_path / "a.png").exists() and os.listdir(tmp_path) == []


def test_other_errors_pass_through_unchanged(tmp_path: Path):
    """A network error inside a download's block is not a write error; nor is a bug."""
    with pytest.raises(ConnectionResetError), atomic_file(tmp_path / "data.gz"):
        raise ConnectionResetError(errno.ECONNRESET, "reset by peer")
    with pytest.raises(ValueError, match="bug"), atomic_file(tmp_path / "data.gz"):
        raise ValueError("bug")
    assert os.listdir(tmp_path) == []


def test_writing_names_the_folder_the_system_refused(tmp_path: Path):
    log = tmp_path / "logs" / "steps.csv"
    with pytest.raises(WriteError) as caught, writing(log):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "logs"))
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'logs'}: permission denied; make {tmp_path} writable, "
        "or write somewhere else"
    )
    with pytest.raises(WriteError, match=f"cannot write {log}: the disk quota is used up"), writing(log):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
