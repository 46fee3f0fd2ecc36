"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009): 32 x 32 colour images from the "python version" batches.

Each batch file is a Python pickle of a dict: ``data`` (a uint8 N x 3072 array, the red plane, then green,
then blue, row by row), ``labels`` (CIFAR-10) or ``fine_labels``/``coarse_labels`` (CIFAR-100), and some
names. A pickle can run any code on loading, and a data file must never be able to, so these are read with
``ember.data.safe_pickle``, which builds containers and plain NumPy arrays only, as written by Python 2 (the
published batches) or Python 3 with any protocol. A batch is checked after loading (its fields, N x 3072
values in 0-255, one label in range per image), and every problem is reported by file name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ember.data.datasets.base import FileDataset
from ember.data.files import damaged, download, extract_tar
from ember.data.safe_pickle import load_pickle


def _field(path: Path, entry: Any, key: str) -> Any:
    """A batch's field by its name, whether the keys were decoded to str or kept as bytes."""
    if not isinstance(entry, dict):
        raise damaged(path, f"expected a dict of fields (a CIFAR batch), found a {type(entry).__name__}")
    for candidate in (key, key.encode()):
        if candidate in entry:
            return entry[candidate]
    keys = ", ".join(repr(k) for k in list(entry)[:8])
    raise damaged(path, f"no {key!r} field (a CIFAR batch has data and labels; this one has {keys})")


def _text(value: Any) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


class CIFAR10(FileDataset):
    """CIFAR-10: 50,000 training and 10,000 test images in 10 classes (torchvision's ``CIFAR10``)."""

    base_folder = "cifar-10-batches-py"
    folders: ClassVar[tuple[str, ...]] = (base_folder,)
    mirrors: ClassVar[list[str]] = ["https://www.cs.toronto.edu/~kriz/"]
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list: ClassVar[list[str]] = [f"data_batch_{i}" for i in range(1, 6)]
    test_list: ClassVar[list[str]] = ["test_batch"]
    meta: ClassVar[dict[str, str]] = {"filename": "batches.meta", "key": "label_names"}
    label_key = "labels"
    system_dirs: ClassVar[tuple[str, ...]] = ("/usr/share/datasets/cifar-10",)

    def files(self, train: bool) -> list[str]:
        return [*(self.train_list if train else self.test_list), self.meta["filename"]]

    def read(self, folder: Path, names: list[str]) -> tuple[np.ndarray, Any]:
        meta = folder / names[-1]
        self.classes = [_text(c) for c in _field(meta, load_pickle(meta), self.meta["key"])]
        images, labels = [], []
        for name in names[:-1]:
            data, targets = self._batch(folder / name, len(self.classes))
            images.append(data)
            labels.extend(targets)
        return np.ascontiguousarray(np.concatenate(images).transpose(0, 2, 3, 1)), labels  # N x 32 x 32 x 3

    def _batch(self, path: Path, classes: int) -> tuple[np.ndarray, list[int]]:
        """A batch file's images (N x 3 x 32 x 32 uint8) and labels, checked."""
        entry = load_pickle(path)
        data = np.asarray(_field(path, entry, "data"))
        labels = np.asarray(_field(path, entry, self.label_key))
        if data.ndim != 2 or data.shape[1] != 3072 or data.dtype.kind not in "iu":
            raise damaged(path, f"expected data of N x 3072 integers, found {data.dtype} {data.shape}")
        if data.size and (data.min() < 0 or data.max() > 255):
            raise damaged(path, "pixel values outside 0-255")
        if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
            raise damaged(path, f"expected {len(data)} integer labels, found {labels.dtype} {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise damaged(path, f"labels outside 0-{classes - 1}, the classes of its meta file")
        return data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32), labels.tolist()

    def fetch(self, target: Path) -> None:
        """Fetch the archive beside ``target``, unpack it in a scratch folder, rename the result in place."""
        parent = target.parent
        archive = download(self.mirrors, self.filename, parent, self.tgz_md5)
        scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=parent))
        try:
            extract_tar(archive, scratch)
            os.replace(scratch / self.folders[0], target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


class CIFAR100(CIFAR10):
    """CIFAR-100: the same images' format with 100 fine classes (labels ``fine_labels``)."""

    base_folder = "cifar-100-python"
    folders: ClassVar[tuple[str, ...]] = (base_folder,)
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list: ClassVar[list[str]] = ["train"]
    test_list: ClassVar[list[str]] = ["test"]
    meta: ClassVar[dict[str, str]] = {"filename": "meta", "key": "fine_label_names"}
    label_key = "fine_labels"
    system_dirs: ClassVar[tuple[str, ...]] = ("/usr/share/datasets/cifar-100",)
