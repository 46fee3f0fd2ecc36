"""``ImageFolder``: a folder per class of image files, decoded by Pillow (torchvision's ``ImageFolder``).

``root/dog/xxx.png``, ``root/cat/123.jpg``: classes are the sub-folder names in sorted order, labelled 0, 1,
... Images are read on demand (they may differ in size, so the loader goes sample by sample and a transform
should bring them to one size), as uint8 H x W x 3 RGB arrays, as torchvision's default loader converts to
RGB.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ember.data.dataset import Dataset
from ember.data.images import open_image
from ember.errors import MissingFileError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def pil_loader(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as a uint8 H x W x 3 RGB array (``DataFormatError`` naming a file that is not one)."""
    return np.asarray(open_image(path, "RGB", "ImageFolder"))


class ImageFolder(Dataset):
    """Images in class folders; ``samples`` lists (path, class index), ``targets`` the class indices."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        loader: Callable[[str], Any] = pil_loader,
        is_valid_file: Callable[[str], bool] | None = None,
        allow_empty: bool = False,
    ) -> None:
        self.root = str(root)
        self.transform, self.target_transform, self.loader = transform, target_transform, loader
        folder = Path(root)
        if not folder.is_dir():
            raise MissingFileError(f"ImageFolder: {folder} is not a folder")
        self.classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
        if not self.classes:
            raise MissingFileError(f"ImageFolder: no class folders found in {folder}")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        valid = is_valid_file or (lambda path: path.lower().endswith(IMG_EXTENSIONS))
        self.samples: list[tuple[str, int]] = []
        for name in self.classes:
            found = sorted(
                str(path) for path in (folder / name).rglob("*") if path.is_file() and valid(str(path))
            )
            if not found and not allow_empty:
                raise MissingFileError(
                    f"ImageFolder: found no valid file for class {name!r} in {folder / name} "
                    f"(supported extensions: {', '.join(IMG_EXTENSIONS)})"
                )
            self.samples.extend((path, self.class_to_idx[name]) for path in found)
        self.imgs = self.samples
        self.targets = [target for _, target in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, target = self.samples[index]
        image: Any = self.loader(path)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target
