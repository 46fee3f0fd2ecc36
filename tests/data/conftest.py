"""Fixtures for the data tests: an isolated environment, files in the real formats, a loopback HTTP server."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import pickle
import struct
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

MNIST_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"
if not MNIST_DIR.is_dir():  # a worktree sits elsewhere; CI clones beside shared/
    MNIST_DIR = Path("/work/shared/data/mnist")


@functools.cache
def mnist_arrays(train: bool) -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST split, read once per test process (decompressing it takes a second or two)."""
    from ember.data import MNIST

    dataset = MNIST(MNIST_DIR, train=train)
    return dataset.data, dataset.targets


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the user's $EMBER_DATA or cache."""
    monkeypatch.delenv("EMBER_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def idx_bytes(array: np.ndarray) -> bytes:
    """An array in LeCun's IDX format (uint8 values)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def small_mnist(n: int = 20, seed: int = 0) -> dict[str, bytes]:
    """The four MNIST files (gzip-compressed) for a tiny random data set."""
    rng = np.random.default_rng(seed)
    files = {}
    for prefix, count in (("train", n), ("t10k", n // 2)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels))
    return files


class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Writes pickles as the published CIFAR batches are: Python 2 byte strings, NumPy 1's global names."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_global(self, obj: object, name: str | None = None) -> None:
        if getattr(obj, "__name__", "") == "_reconstruct":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)

    dispatch[type(len)] = save_global


def py2_pickle(obj: object) -> bytes:
    stream = io.BytesIO()
    Py2Pickler(stream, protocol=2).dump(obj)
    return stream.getvalue()


def cifar_batch(
    n: int, seed: int, label_key: bytes = b"labels", classes: int = 10
) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, classes, n)]
    entry = {
        b"batch_label": b"testing batch",
        label_key: labels,
        b"data": data,
        b"filenames": [b"x.png"] * n,
    }
    return py2_pickle(entry), data


def write_cifar10(folder: Path, n: int = 4) -> dict[str, np.ndarray]:
    """A small CIFAR-10 "python version" folder: five training batches, a test batch and the meta file."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        raw, data = cifar_batch(n, i)
        (folder / name).write_bytes(raw)
        arrays[name] = data
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    (folder / "batches.meta").write_bytes(py2_pickle({b"label_names": names, b"num_vis": 3072}))
    return arrays


def tar_gz(folder: Path) -> bytes:
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return stream.getvalue()


class Server:
    """A loopback HTTP server: ``files`` maps a path to bytes; paths in ``truncate`` stop half-way."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in server.truncate else body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()
