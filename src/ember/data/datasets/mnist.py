"""MNIST and Fashion-MNIST: 28 x 28 grey images in LeCun's IDX format, read with NumPy.

IDX is a tiny binary format: two zero bytes, a type code (0x08 unsigned byte, ...), the number of dimensions,
each dimension as a big-endian 32-bit integer, then the values. Files may be gzip-compressed (as published) or
not. Both data sets hold 60,000 training and 10,000 test images; the whole set lives in memory as one uint8
array (``.data``, N x 28 x 28) with int64 labels (``.targets``), so the loader takes its fast path.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ember.data.datasets.base import FileDataset
from ember.data.files import download, existing

IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An IDX file (gzip-compressed or not) as a NumPy array of its shape and type."""
    path = Path(path)
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        raw = stream.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"{path}: IDX header says {shape} ({expected} bytes) but {len(raw) - offset} follow")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


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
        images, labels = (read_idx(existing(folder, name)) for name in names)  # type: ignore[arg-type]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{type(self).__name__}: unexpected shapes {images.shape} and {labels.shape}")
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
