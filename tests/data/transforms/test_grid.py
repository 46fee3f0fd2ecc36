"""Pictures: make_grid's layout, and a PNG of augmented samples that a person can look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import ember
from ember.data import MNIST
from ember.data.transforms import (
    ColorJitter,
    Compose,
    Normalize,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    ToTensor,
    make_grid,
    save_augmentation_grid,
    save_image,
)

from ..conftest import MNIST_DIR


def test_make_grid_layout() -> None:
    batch = np.stack([np.full((1, 3, 2), i / 10, np.float32) for i in range(5)])
    grid = make_grid(batch, nrow=3, padding=1)
    assert grid.shape == (3, 2 * 4 + 1, 3 * 3 + 1)
    np.testing.assert_allclose(grid[:, 1:4, 1:3], 0.0)
    np.testing.assert_allclose(grid[:, 5:8, 4:6], 0.4)  # the fifth image: second row, second column
    assert grid[0, 0, 0] == 0 and make_grid(batch, normalize=True).max() == 1


def test_save_image_and_augmentation_grid(tmp_path: Path) -> None:
    save_image(np.random.default_rng(0).random((4, 3, 5, 5)), tmp_path / "batch.png", nrow=2)
    assert Image.open(tmp_path / "batch.png").size == (2 * 7 + 2, 2 * 7 + 2)
    mnist = MNIST(MNIST_DIR, train=False)
    pipeline = Compose([RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1)), RandomCrop(28, padding=2)])
    grid = save_augmentation_grid(
        mnist, pipeline, tmp_path / "mnist.png", samples=4, augmentations=5, generator=ember.Generator(0)
    )
    image = Image.open(tmp_path / "mnist.png")
    assert image.size == (6 * 30 + 2, 4 * 30 + 2) and grid.shape == (3, 4 * 30 + 2, 6 * 30 + 2)
    # Each row starts with the original digit; the augmented copies differ from it but keep its ink.
    original, copy = grid[:, 2:30, 2:30], grid[:, 2:30, 32:60]
    assert not np.allclose(original, copy) and abs(original.mean() - copy.mean()) < 0.05
    colour = np.random.default_rng(1).integers(0, 256, (6, 12, 12, 3), dtype=np.uint8)
    normalized = Compose(
        [RandomHorizontalFlip(), ToTensor(), ColorJitter(0.4, 0.4, 0.4), Normalize(0.5, 0.2)]
    )
    save_augmentation_grid(colour, normalized, tmp_path / "colour.png", samples=3, augmentations=2, scale=2)
    assert Image.open(tmp_path / "colour.png").size == (3 * 26 + 2, 3 * 26 + 2)
