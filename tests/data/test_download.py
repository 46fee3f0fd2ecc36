"""Downloads from a loopback HTTP server: mirrors in order, checksums, atomic rename, no debris."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ember.data import CIFAR10, MNIST, DownloadError
from ember.data.files import download

from .conftest import Server, small_mnist, tar_gz, write_cifar10


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def serve_mnist(server: Server, monkeypatch: pytest.MonkeyPatch, prefix: str = "/good") -> dict[str, bytes]:
    files = small_mnist()
    for name, body in files.items():
        server.files[f"{prefix}/{name}"] = body
    monkeypatch.setattr(MNIST, "resources", [(name, md5(body)) for name, body in files.items()])
    return files


def test_download_mnist_tries_mirrors_in_order(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = serve_mnist(server, monkeypatch)
    monkeypatch.setattr(MNIST, "mirrors", [server.url + "/missing/", server.url + "/good/"])
    dataset = MNIST(tmp_path, train=True, download=True)
    assert len(dataset) == 20 and dataset.targets.tolist() == [i % 10 for i in range(20)]
    folder = tmp_path / "MNIST" / "raw"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)  # no temporary files left
    assert server.requests[0].startswith("/missing/") and server.requests[1].startswith("/good/")
    count = len(server.requests)
    MNIST(tmp_path, train=False, download=True)  # already there: nothing fetched
    assert len(server.requests) == count


def test_corrupt_and_truncated_files_leave_nothing(server: Server, tmp_path: Path) -> None:
    body = b"0123456789" * 1000
    server.files["/corrupt/file.bin"] = body[:-1] + b"X"
    server.files["/half/file.bin"] = body
    server.truncate.add("/half/file.bin")
    with pytest.raises(DownloadError) as error:
        download([server.url + "/corrupt", server.url + "/half"], "file.bin", tmp_path, md5(body))
    message = str(error.value)
    assert "checksum" in message and "stopped after 5000 of 10000 bytes" in message
    assert list(tmp_path.iterdir()) == []
    server.files["/good/file.bin"] = body
    path = download([server.url + "/half", server.url + "/good"], "file.bin", tmp_path, md5(body))
    assert path.read_bytes() == body and list(tmp_path.iterdir()) == [path]
    sha = hashlib.sha256(body).hexdigest()
    assert download([server.url + "/good"], "file.bin", tmp_path / "sha", sha).read_bytes() == body


def test_truncated_without_checksum_is_still_refused(server: Server, tmp_path: Path) -> None:
    server.files["/half/f"] = b"x" * 100
    server.truncate.add("/half/f")
    with pytest.raises(DownloadError, match="stopped after 50 of 100"):
        download([server.url + "/half"], "f", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_no_mirror_reachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # the discard port: refused
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1:9"):
        MNIST(tmp_path, download=True)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_download_cifar_archive(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = write_cifar10(tmp_path / "source" / "cifar-10-batches-py", n=3)
    archive = tar_gz(tmp_path / "source" / "cifar-10-batches-py")
    server.files["/kriz/cifar-10-python.tar.gz"] = archive
    monkeypatch.setattr(CIFAR10, "mirrors", [server.url + "/kriz/"])
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5(archive))
    root = tmp_path / "root"
    dataset = CIFAR10(root, train=False, download=True)
    assert len(dataset) == 3
    expected = arrays["test_batch"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(dataset.data, expected)
    assert sorted(p.name for p in root.iterdir()) == [
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
    ]


def test_cifar_corrupt_archive_leaves_nothing(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["/kriz/cifar-10-python.tar.gz"] = b"not an archive"
    monkeypatch.setattr(CIFAR10, "mirrors", [server.url + "/kriz/"])
    with pytest.raises(DownloadError, match="checksum"):
        CIFAR10(tmp_path / "root", download=True)
    assert list((tmp_path / "root").iterdir()) == []
