"""MNIST and Fashion-MNIST: 28 x 28 grey images in LeCun's IDX format, read with NumPy.

IDX is a tiny binary format: two zero bytes, a type code (0x08 unsigned byte, ...), the number of dimensions,
each dimension as a big-endian 32-bit integer, then the values. Files may be gzip-compressed (as published) or
not; the first two bytes tell (gzip's magic number), not the name. Both data sets hold 60,000 training and
10,000 test images; the whole set lives in memory as one uint8 array (``.data``, N x 28 x 28) with int64
labels (``.targets``), so the loader takes its fast path.

A file is read header first: the size the header announces is checked against the file (exactly, for an
uncompressed file; for a gzip file, against the most that deflate can expand its bytes to, about 1032 to 1)
and against ``MAX_BYTES`` before anything is allocated, then the values stream into one preallocated array.
A damaged file (truncated, not gzip after all, a wrong header) is reported by name with what is wrong.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from ember.data.datasets.base import FileDataset
from ember.data.files import damaged, download, existing

IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
DEFLATE_MAX_RATIO = 1032  # deflate's ceiling: a 258-byte match costs at least 2 bits (RFC 1951)
MAX_BYTES = 1 << 34  # 16 GiB: no IDX file Ember reads into memory may announce more
CHUNK = 1 << 20  # the most held twice: the inflated chunk and its place in the array


def _read_exact(stream: IO[bytes], count: int) -> bytes:
    data = stream.read(count)
    return data if data is not None else b""


def _parse_header(path: Path, stream: IO[bytes]) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """(type, shape, header length) from the first bytes of an IDX stream."""
    magic = _read_exact(stream, 4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_TYPES:
        raise damaged(
            path,
            f"not an IDX file (it starts with {magic.hex() or 'nothing'}; an IDX file starts with 00 00, a "
            "type code and the number of dimensions)",
        )
    dims = _read_exact(stream, 4 * magic[3])
    if len(dims) < 4 * magic[3]:
        raise damaged(path, f"truncated in its IDX header ({magic[3]} dimensions announced)")
    shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))
    return IDX_TYPES[magic[2]], shape, 4 + len(dims)


def _check_size(path: Path, shape: tuple[int, ...], nbytes: int, header: int, size: int, gz: bool) -> None:
    """Refuse a header that announces more than the file can hold, before allocating anything."""
    announced = f"its header announces {shape} values ({nbytes:,} bytes)"
    if nbytes > MAX_BYTES:
        raise damaged(path, f"{announced}, more than Ember reads into memory ({MAX_BYTES:,} bytes)")
    if gz and nbytes + header > DEFLATE_MAX_RATIO * size + 1024:
        raise damaged(
            path, f"{announced}, more than a {size:,}-byte gzip file can expand to: its header is wrong"
        )
    if not gz and nbytes != size - header:
        raise damaged(path, f"{announced} but {size - header:,} bytes follow the header")


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An IDX file (gzip-compressed or not) as a NumPy array of its shape and type.

    Raises ``DataFormatError`` naming the file for anything but a whole, consistent IDX file.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        gz = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream: Any = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        what = "gzip-compressed IDX" if gz else "IDX"
        try:
            dtype, shape, header = _parse_header(path, stream)
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            _check_size(path, shape, nbytes, header, size, gz)
            values = np.empty(nbytes, dtype=np.uint8)
            view, filled = memoryview(values.data), 0
            while filled < nbytes:
                count = stream.readinto(view[filled : filled + CHUNK])
                if not count:
                    raise damaged(
                        path, f"truncated: its header announces {nbytes:,} bytes of values, {filled:,} follow"
                    )
                filled += count
            if stream.read(1):  # for gzip this also checks the CRC and the length in the trailer
                raise damaged(path, f"more data than its header announces ({shape} values)")
        except (EOFError, OSError, zlib.error) as error:  # BadGzipFile is an OSError
            raise damaged(path, f"damaged {what} file ({error or type(error).__name__})") from None
    array = values.view(dtype).reshape(shape)
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


class MNIST(FileDataset):
    """LeCun, Cortes and Burges' handwritten digits (torchvision's ``MNIST``; ``root`` may be None)."""

    mirrors: ClassVar[list[str]] = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    resources: ClassVar[
        list[tuple[str, str]]
    ] = [  # (file, MD5 of the published .gz), as torchvision lists them
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    folders: ClassVar[tuple[str, ...]] = ("MNIST/raw", "mnist")  # torchvision's layout first
    system_dirs: ClassVar[tuple[str, ...]] = ("/usr/share/datasets/mnist",)
    classes: ClassVar[list[str]] = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]  # fmt: skip

    def files(self, train: bool) -> list[str]:
        prefix = "train" if train else "t10k"
        return [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]

    def read(self, folder: Path, names: list[str]) -> tuple[np.ndarray, Any]:
        """The images (N x 28 x 28 uint8) and labels (N, in range), checked against each other."""
        image_path, label_path = (existing(folder, name) for name in names)
        assert image_path is not None and label_path is not None  # found by find_or_download
        images, labels = read_idx(image_path), read_idx(label_path)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise damaged(image_path, f"expected 28 x 28 uint8 images, found {images.dtype} {images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise damaged(label_path, f"expected uint8 labels (N,), found {labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise damaged(
                label_path,
                f"{len(labels):,} labels for the {len(images):,} images of {image_path}: the two files are "
                "not from the same set",
            )
        if labels.size and labels.max() >= len(self.classes):
            raise damaged(label_path, f"label {labels.max()} is not one of the {len(self.classes)} classes")
        return images, labels

    def fetch(self, target: Path) -> None:
        for name, md5 in self.resources:
            if existing(target, name) is None:
                download(self.mirrors, name, target, md5)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: ten kinds of clothing, MNIST's format (Debian: ``dataset-fashion-mnist``)."""

    mirrors: ClassVar[list[str]] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources: ClassVar[list[tuple[str, str]]] = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    folders: ClassVar[tuple[str, ...]] = ("FashionMNIST/raw", "fashion-mnist")
    system_dirs: ClassVar[tuple[str, ...]] = ("/usr/share/datasets/fashion-mnist",)
    classes: ClassVar[list[str]] = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
