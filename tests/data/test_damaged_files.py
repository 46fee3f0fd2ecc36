"""Every damaged data file is refused with one message that names it, before it costs memory or runs code.

IDX (MNIST): wrong magic, truncated, a header announcing more than the file holds (also the gzip bomb that
announces 10^9 images), garbage and truncated gzip, extra bytes, inconsistent image and label files.
CIFAR: real-format batches pickled by Python 3 with protocols 2, 4 and 5 load; pickles that name a global that
would run code, or a NumPy dtype state that would read pointers from the file, are refused; damaged batches
are named.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.data import CIFAR10, CIFAR100, MNIST, ImageFolder
from ember.data.datasets.mnist import read_idx
from ember.data.safe_pickle import UnsafePickleError, load_pickle
from ember.errors import DataFormatError, EmberError

from .conftest import idx_bytes, small_mnist


def idx_header(code: int, *shape: int) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


IMAGES = np.arange(4 * 28 * 28, dtype=np.uint8).reshape(4, 28, 28)


# ----------------------------------------------------------------------------------------------------------
# IDX
def test_idx_round_trips_compressed_or_not_whatever_the_name(tmp_path: Path) -> None:
    raw, packed = idx_bytes(IMAGES), gzip.compress(idx_bytes(IMAGES))
    for name, data in (("a.gz", packed), ("b", packed), ("c.gz", raw), ("d", raw)):
        np.testing.assert_array_equal(read_idx(write(tmp_path / name, data)), IMAGES)
    floats = np.array([[1.5, -2.0], [3.25, 1e30]], np.float32)
    big_endian = idx_header(0x0D, 2, 2) + floats.astype(">f4").tobytes()
    read = read_idx(write(tmp_path / "f", big_endian))
    assert read.dtype == np.float32 and read.dtype.isnative
    np.testing.assert_array_equal(read, floats)


DAMAGED_IDX = {
    "wrong magic": (idx_header(0x08, 4, 28, 28)[:2] + b"\x07\x03" + IMAGES.tobytes(), "not an IDX file"),
    "not a number of dimensions": (b"\x00\x00\x08\x03\x00\x00", "truncated in its IDX header"),
    "empty": (b"", "not an IDX file"),
    "short": (
        idx_bytes(IMAGES)[:-3],
        r"announces \(4, 28, 28\) values \(3,136 bytes\) but 3,133 bytes follow",
    ),
    "long": (idx_bytes(IMAGES) + b"\x00", "but 3,137 bytes follow"),
    "more items than it holds": (idx_header(0x08, 10**9, 28, 28) + IMAGES.tobytes(), "announces"),
    "gzip, truncated": (gzip.compress(idx_bytes(IMAGES))[:-20], "damaged gzip-compressed IDX file"),
    "gzip, garbage": (b"\x1f\x8b" + bytes(range(256)) * 4, "damaged gzip-compressed IDX file"),
    "gzip, wrong CRC": (gzip.compress(idx_bytes(IMAGES))[:-8] + b"\x00" * 8, "damaged gzip-compressed IDX"),
    "gzip, more items": (gzip.compress(idx_header(0x08, 5, 28, 28) + IMAGES.tobytes()), "truncated"),
    "gzip, extra data": (gzip.compress(idx_bytes(IMAGES) + b"\x01"), "more data than its header announces"),
    "gzip, bad magic": (gzip.compress(b"<html>Not Found</html>"), "not an IDX file"),
}


@pytest.mark.parametrize("case", DAMAGED_IDX)
def test_damaged_idx_files_are_named_with_what_is_wrong(tmp_path: Path, case: str) -> None:
    data, message = DAMAGED_IDX[case]
    path = write(tmp_path / "train-images-idx3-ubyte.gz", data)
    with pytest.raises(DataFormatError, match=message) as error:
        read_idx(path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)
    assert isinstance(error.value, EmberError) and isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    "count, message",
    [
        (
            10**9,
            r"\(1000000000, 28, 28\) values \(784,000,000,000 bytes\), more than Ember reads into memory",
        ),
        (10**6, r"\(1000000, 28, 28\) values \(784,000,000 bytes\), more than a [\d,]+-byte gzip file can"),
    ],
)
def test_a_gzip_bomb_header_is_refused_before_inflating(tmp_path: Path, count: int, message: str) -> None:
    """Images announced by a small gzip file: refused from the header, not after inflating 20 MB."""
    body = gzip.compress(idx_header(0x08, count, 28, 28) + bytes(20 << 20), compresslevel=9)
    path = write(tmp_path / "bomb.gz", body)
    assert len(body) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(DataFormatError, match=message):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_read_memory_is_the_array_itself(tmp_path: Path) -> None:
    """The values stream into one array: the peak is about its size, not file + inflated copy + array."""
    images = np.random.default_rng(0).integers(0, 256, (10000, 28, 28), dtype=np.uint8)
    path = write(tmp_path / "images.gz", gzip.compress(idx_bytes(images), compresslevel=1))
    tracemalloc.start()
    try:
        read = read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(read, images)
    assert peak < 1.5 * images.nbytes


def mnist_folder(tmp_path: Path, **replace: bytes) -> Path:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, data in {**small_mnist(20), **replace}.items():
        (folder / name).write_bytes(data)
    return folder


def test_mnist_refuses_images_and_labels_of_different_counts(tmp_path: Path) -> None:
    labels = gzip.compress(idx_bytes(np.zeros(19, np.uint8)))
    folder = mnist_folder(tmp_path, **{"train-labels-idx1-ubyte.gz": labels})
    with pytest.raises(DataFormatError, match=r"19 labels for the 20 images of .*train-images") as error:
        MNIST(folder)
    assert str(error.value).startswith(str(folder / "train-labels-idx1-ubyte.gz"))


@pytest.mark.parametrize(
    "name, array, message",
    [
        ("train-labels-idx1-ubyte.gz", np.full(20, 10, np.uint8), "label 10 is not one of the 10 classes"),
        ("train-images-idx3-ubyte.gz", np.zeros((20, 32, 32), np.uint8), r"28 x 28 uint8 images"),
        ("train-labels-idx1-ubyte.gz", np.zeros((20, 1), np.uint8), r"uint8 labels \(N,\)"),
    ],
)
def test_mnist_refuses_files_that_are_not_mnist(tmp_path: Path, name: str, array: np.ndarray, message: str):
    folder = mnist_folder(tmp_path, **{name: gzip.compress(idx_bytes(array))})
    with pytest.raises(DataFormatError, match=message) as error:
        MNIST(folder)
    assert str(error.value).startswith(str(folder / name))


# ----------------------------------------------------------------------------------------------------------
# CIFAR: pickles written by Python 3, as one would make CIFAR-format batches from NumPy arrays
def write_cifar_py3(folder: Path, protocol: int, n: int = 6) -> dict[str, tuple[np.ndarray, list[int]]]:
    """A CIFAR-10 folder pickled by this Python with ``protocol``: str keys, bytes file names, NumPy data."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(protocol)
    written = {}
    for index, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        batch = {
            "batch_label": f"batch {index}",
            "labels": labels if index % 2 else np.array(labels, np.int64),  # a list, or an array
            "data": data,
            "filenames": [f"image_{i}.png".encode() for i in range(n)],  # bytes: _codecs.encode in protocol 2
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        written[name] = data, labels
    meta = {"label_names": [f"class{i}".encode() for i in range(10)], "num_vis": np.int64(3072)}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return written


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_batches_pickled_by_python3_load(tmp_path: Path, protocol: int) -> None:
    written = write_cifar_py3(tmp_path / "cifar-10-batches-py", protocol)
    test = CIFAR10(tmp_path, train=False)
    data, labels = written["test_batch"]
    np.testing.assert_array_equal(test.data, data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert test.targets.tolist() == labels and test.classes[3] == "class3"
    assert len(CIFAR10(tmp_path, train=True)) == 30
    meta = load_pickle(tmp_path / "cifar-10-batches-py" / "batches.meta")
    assert meta["num_vis"] == 3072 and meta["num_vis"].dtype == np.int64


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_every_plain_array_round_trips(tmp_path: Path, protocol: int) -> None:
    arrays = {
        "f64": np.linspace(-1, 1, 6).reshape(2, 3),
        "big": np.arange(4, dtype=">i4"),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "strided": np.arange(12, dtype=np.uint8).reshape(3, 4)[:, ::2],
        "bool": np.array([True, False]),
        "text": np.array(["ab", "c"]),
        "bytes": np.array([b"xy", b"z"]),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.float32(2.5),
    }
    value = {"arrays": arrays, "shared": [arrays["f64"], arrays["f64"]], "nested": ({"a": [1, 2.5, None]},)}
    loaded = load_pickle(write(tmp_path / "p", pickle.dumps(value, protocol=protocol)))
    for key, array in arrays.items():
        np.testing.assert_array_equal(loaded["arrays"][key], array)
        assert loaded["arrays"][key].dtype == array.dtype
    assert loaded["nested"] == ({"a": [1, 2.5, None]},)


class Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, ("touch pwned",)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: int
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_py3(folder, 4)
    evil = folder / "data_batch_3"
    evil.write_bytes(pickle.dumps({"data": Exploit(), "labels": []}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"refusing to load global posix\.system") as error:
        CIFAR10(tmp_path)
    assert str(error.value).startswith(f"{evil}: ") and "nothing in it was run" in str(error.value)
    assert isinstance(error.value, pickle.UnpicklingError) and isinstance(error.value, EmberError)
    assert not (tmp_path / "pwned").exists()


class Codec:
    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        import _codecs

        return _codecs.encode, ("x", "rot13")


class CallNdarray:
    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return np.ndarray, ((1,), np.dtype("O"), b"A" * 8)


@pytest.mark.parametrize("payload, message", [(Codec(), "codec 'rot13'"), (CallNdarray(), "dtype 'O8'")])
def test_allowed_globals_serve_only_their_safe_use(tmp_path: Path, payload: object, message: str) -> None:
    path = write(tmp_path / "p", pickle.dumps(payload, protocol=2))
    with pytest.raises((UnsafePickleError, DataFormatError), match=message):
        load_pickle(path)


CRAFTED_DTYPE = """
import pickle, sys
import numpy as np
from numpy._core.multiarray import _reconstruct

class Py2Pickler(pickle._Pickler):  # bytes as Python 2's str, as in the published batches
    dispatch = pickle._Pickler.dispatch.copy()
    def save_bytes(self, obj):
        self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        self.memoize(obj)
    dispatch[bytes] = save_bytes

class FakeDtype:  # a dtype whose state hides an object field: NumPy reads pointers from the file's bytes
    def __reduce__(self):
        fields = {"a": (np.dtype("O"), 0)}
        return np.dtype, (sys.argv[2], False, True), (3, "|", None, ("a",), fields, 8, 1, 0)

class Array:
    def __reduce__(self):
        return _reconstruct, (np.ndarray, (0,), b"b"), (1, (1,), FakeDtype(), False, b"A" * 8)

with open(sys.argv[1], "wb") as stream:
    Py2Pickler(stream, protocol=2).dump({"data": Array()})
from ember.data.datasets.cifar import load_pickle
try:
    print(repr(load_pickle(sys.argv[1])))
except Exception as error:
    print(type(error).__name__, error)
"""


@pytest.mark.parametrize("code", ["V8", "u8"])
def test_a_dtype_state_that_would_read_pointers_is_refused(tmp_path: Path, code: str) -> None:
    """NumPy builds an object array from the file's bytes for this dtype: a crash (or worse) on access.

    Before the fix the reader died of a segmentation fault (V8) or handed out an object array (u8).
    """
    env = {**os.environ, "PYTHONPATH": str(Path(ember.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", CRAFTED_DTYPE, str(tmp_path / "p"), code],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, f"the reader crashed (status {done.returncode}): {done.stderr[-500:]}"
    assert done.stdout.startswith("UnsafePickleError") and "refusing dtype" in done.stdout


def cifar_with(tmp_path: Path, batch: object, raw: bytes | None = None) -> tuple[Path, Path]:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_py3(folder, 2)
    path = folder / "test_batch"
    path.write_bytes(raw if raw is not None else pickle.dumps(batch, protocol=2))
    return tmp_path, path


GOOD = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}
DAMAGED_CIFAR = {
    "truncated": (None, "damaged or not a pickle"),
    "not a dict": ([1, 2], "expected a dict of fields"),
    "no data": ({"labels": [0]}, "no 'data' field"),
    "wrong size": (
        {**GOOD, "data": np.zeros((2, 1024), np.uint8)},
        r"N x 3072 integers, found uint8 \(2, 1024\)",
    ),
    "out of range": ({**GOOD, "data": np.full((2, 3072), 300)}, "pixel values outside 0-255"),
    "labels missing": ({**GOOD, "labels": [0]}, "expected 2 integer labels"),
    "bad label": ({**GOOD, "labels": [0, 10]}, "labels outside 0-9"),
}


@pytest.mark.parametrize("case", DAMAGED_CIFAR)
def test_damaged_cifar_batches_are_named(tmp_path: Path, case: str) -> None:
    batch, message = DAMAGED_CIFAR[case]
    raw = pickle.dumps(GOOD, protocol=2)[:-30] if batch is None else None
    root, path = cifar_with(tmp_path, batch, raw)
    with pytest.raises(DataFormatError, match=message) as error:
        CIFAR10(root, train=False)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_cifar100_checks_fine_labels_against_its_meta(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    names = {"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": []}
    (folder / "meta").write_bytes(pickle.dumps(names, protocol=5))
    batch = {"data": np.zeros((3, 3072), np.uint8), "fine_labels": [0, 99, 100]}
    (folder / "train").write_bytes(pickle.dumps(batch, protocol=5))
    with pytest.raises(DataFormatError, match="labels outside 0-99"):
        CIFAR100(tmp_path)
    (folder / "train").write_bytes(pickle.dumps({**batch, "fine_labels": [0, 99, 5]}, protocol=5))
    assert CIFAR100(tmp_path).targets.tolist() == [0, 99, 5]


def test_zlib_error_is_a_damaged_file_too(tmp_path: Path) -> None:
    """A gzip header followed by a deflate stream with a bad block type (``zlib.error``)."""
    header = gzip.compress(b"")[:10]
    path = write(tmp_path / "x.gz", header + b"\xff" * 64)
    with pytest.raises(DataFormatError, match="damaged gzip"):
        read_idx(path)


def test_image_folder_names_a_damaged_image(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "cat").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "cat" / "good.png")
    (tmp_path / "cat" / "bad.png").write_bytes(b"<html>403</html>")
    dataset = ImageFolder(tmp_path)
    assert dataset[1][0].shape == (4, 4, 3)
    with pytest.raises(DataFormatError, match=r"bad\.png: not an image Pillow can read"):
        dataset[0]
