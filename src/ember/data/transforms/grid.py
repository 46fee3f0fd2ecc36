"""Pictures of a batch: ``make_grid`` and ``save_image`` (torchvision.utils'), and ``save_augmentation_grid``.

An augmentation pipeline is checked by eye before it is trusted ("should be reasonable and accepted in the
problem domain"): ``save_augmentation_grid`` draws a few images of a data set in rows, the original first and
then independent augmented versions, and writes the grid as a PNG (through Pillow) for the training report.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.data.optional import require
from ember.data.transforms.base import as_float, batch_images, random_source, to_nchw
from ember.random import Generator, numpy_generator


def make_grid(
    tensor: Any,
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    value_range: tuple[float, float] | None = None,
    scale_each: bool = False,
    pad_value: float = 0.0,
) -> np.ndarray:
    """Tile an N x C x H x W batch into one 3 x H' x W' image, ``nrow`` images per row (torchvision's)."""
    x = tensor.array if isinstance(tensor, Tensor) else np.asarray(tensor)
    x = as_float(x[None] if x.ndim == 3 else x).astype(np.float32)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    if normalize:
        axes = (1, 2, 3) if scale_each else None
        low = np.float32(value_range[0]) if value_range else x.min(axis=axes, keepdims=True)
        high = np.float32(value_range[1]) if value_range else x.max(axis=axes, keepdims=True)
        x = (np.clip(x, low, high) - low) / np.maximum(high - low, 1e-5)
    n, channels, height, width = x.shape
    columns = min(nrow, n)
    rows = math.ceil(n / columns)
    cell_h, cell_w = height + padding, width + padding
    grid = np.full((channels, rows * cell_h + padding, columns * cell_w + padding), pad_value, np.float32)
    for k in range(n):
        top, left = (k // columns) * cell_h + padding, (k % columns) * cell_w + padding
        grid[:, top : top + height, left : left + width] = x[k]
    return grid


def save_image(tensor: Any, fp: str | os.PathLike[str], **grid_options: Any) -> None:
    """Write a batch (or one C x H x W image) as a PNG grid; values in [0, 1] (or ``normalize=True``)."""
    image_module = require("PIL.Image", "save_image")
    grid = make_grid(tensor, **grid_options)
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    image_module.fromarray(np.ascontiguousarray(pixels)).save(fp, format="PNG")


def save_augmentation_grid(
    dataset: Any,
    transform: Callable[[Any], Any],
    fp: str | os.PathLike[str],
    samples: int = 8,
    augmentations: int = 7,
    scale: int = 1,
    generator: Generator | None = None,
) -> np.ndarray:
    """Rows of ``samples`` random images: the original, then ``augmentations`` draws of ``transform``.

    ``dataset`` is an array-backed dataset (its uint8 ``.data`` is used, so the dataset's own transform is
    not) or a uint8 image array N x H x W (x C). ``transform`` sees uint8 images as a dataset transform does;
    a result after ``Normalize`` is rescaled per image for display. ``scale`` enlarges small images (nearest).
    Returns the grid (3 x H' x W', float32 in [0, 1]).
    """
    images = dataset if isinstance(dataset, np.ndarray) else np.asarray(dataset.data)
    rng = numpy_generator(generator)
    picked = images[np.sort(rng.choice(len(images), size=samples, replace=False))]
    original = as_float(to_nchw(picked))
    tiles = []
    with random_source(rng):
        draws = [batch_images(picked, transform) for _ in range(augmentations)]
    for draw in draws:
        array = draw.array if isinstance(draw, Tensor) else np.asarray(draw)
        array = as_float(to_nchw(array) if array.dtype == np.uint8 else array)
        if array.min() < 0 or array.max() > 1:  # normalized: show each image stretched to [0, 1]
            low = array.min(axis=(1, 2, 3), keepdims=True)
            high = array.max(axis=(1, 2, 3), keepdims=True)
            array = (array - low) / np.maximum(high - low, 1e-5)
        tiles.append(array)
    if any(t.shape[1:] != original.shape[1:] for t in tiles):  # e.g. a crop to a smaller size: pad to fit
        height = max(t.shape[2] for t in [original, *tiles])
        width = max(t.shape[3] for t in [original, *tiles])
        tiles = [_pad_to(t, height, width) for t in tiles]
        original = _pad_to(original, height, width)
    channels = max(t.shape[1] for t in [original, *tiles])
    columns = [np.broadcast_to(t, (t.shape[0], channels, *t.shape[2:])) for t in [original, *tiles]]
    batch = np.stack(columns, axis=1).reshape(-1, channels, *original.shape[2:])
    if scale > 1:
        batch = batch.repeat(scale, axis=2).repeat(scale, axis=3)
    save_image(batch, fp, nrow=augmentations + 1, padding=2, pad_value=1.0)
    return make_grid(batch, nrow=augmentations + 1, padding=2, pad_value=1.0)


def _pad_to(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre smaller images in a white frame of the common size."""
    out = np.ones((*x.shape[:2], height, width), dtype=x.dtype)
    top, left = (height - x.shape[2]) // 2, (width - x.shape[3]) // 2
    out[:, :, top : top + x.shape[2], left : left + x.shape[3]] = x
    return out
