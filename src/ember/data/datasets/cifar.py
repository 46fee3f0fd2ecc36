"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009): 32 x 32 colour images from the "python version" batches.

Each batch file is a Python pickle of a dict: ``data`` (a uint8 N x 3072 array, the red plane, then green,
then blue, row by row), ``labels`` (CIFAR-10) or ``fine_labels``/``coarse_labels`` (CIFAR-100), and some
names. A pickle can run any code on loading, and a data file must never be able to, so these are read with a
restricted unpickler: ``find_class`` hands out only what a pickled NumPy array needs (``_reconstruct``,
``ndarray`` and ``dtype``) and refuses every other global, so a file that asks for ``os.system`` fails before
anything runs.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ember.data.datasets.base import FileDataset
from ember.data.files import download, extract_tar


def _reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct as reconstruct  # NumPy 2
    except ImportError:  # pragma: no cover - NumPy 1
        from numpy.core.multiarray import _reconstruct as reconstruct  # type: ignore[no-redef]
    return reconstruct


ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),  # how NumPy 1 (and the published files) name it
    ("numpy._core.multiarray", "_reconstruct"),  # how NumPy 2 names it
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers and NumPy arrays, never arbitrary objects."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: a data file may hold only containers and arrays"
            )
        if name == "_reconstruct":
            return _reconstruct()
        return np.ndarray if name == "ndarray" else np.dtype


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle a data file safely (``latin1`` decodes the Python 2 strings of the published batches)."""
    with open(path, "rb") as stream:
        return RestrictedUnpickler(io.BytesIO(stream.read()), encoding="latin1").load()


def _field(entry: dict[Any, Any], key: str) -> Any:
    """A batch's field by its name, whether the keys were decoded to str or kept as bytes."""
    if key in entry:
        return entry[key]
    return entry[key.encode()]


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
        images, labels = [], []
        for name in names[:-1]:
            entry = load_pickle(folder / name)
            images.append(np.asarray(_field(entry, "data"), dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(_field(entry, self.label_key))
        self.classes = [str(c) for c in _field(load_pickle(folder / names[-1]), self.meta["key"])]
        return np.ascontiguousarray(np.concatenate(images).transpose(0, 2, 3, 1)), labels  # N x 32 x 32 x 3

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
