"""``FileDataset``: an in-memory image dataset read from a published set of files (MNIST's, CIFAR's).

It holds what such datasets share: torchvision's signature (``root``, ``train``, ``transform``,
``target_transform``, ``download``), finding the files locally or downloading them (``ember.data.files``), and
reading them into ``.data`` and ``.targets``. A subclass says which files a split needs (``files``), how to
read them (``read``) and how to fetch them (``fetch``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ember.data.dataset import ArrayDataset
from ember.data.files import find_or_download


class FileDataset(ArrayDataset):
    """Base class of the datasets read from files; see the module docstring."""

    folders: ClassVar[tuple[str, ...]] = ()  # sub-folders of each search place; the first receives downloads
    system_dirs: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        transform: Any = None,
        target_transform: Any = None,
        download: bool = False,
    ) -> None:
        self.root, self.train = root, train
        names = self.files(train)
        name = type(self).__name__
        self.folder = find_or_download(
            name, names, root, self.folders, self.system_dirs, download, self.fetch
        )
        data, targets = self.read(self.folder, names)
        super().__init__(data, targets, transform, target_transform)

    def files(self, train: bool) -> list[str]:
        raise NotImplementedError

    def read(self, folder: Path, names: list[str]) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def fetch(self, target: Path) -> None:
        raise NotImplementedError
