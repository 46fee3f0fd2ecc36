"""Flips, padding, crops and Resize: exact geometry, vectorized per sample."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import ember
from ember.autograd import Tensor
from ember.data.transforms import (
    CenterCrop,
    Pad,
    RandomCrop,
    RandomHorizontalFlip,
    RandomVerticalFlip,
    Resize,
)


def batch(n: int = 6, channels: int = 3, size: int = 9, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, channels, size, size), dtype=np.float32)


def test_a_flip_is_reversed_by_a_second_flip() -> None:
    x = batch()
    for flip, axis in ((RandomHorizontalFlip(p=1.0), -1), (RandomVerticalFlip(p=1.0), -2)):
        once = flip.apply_batch(x)
        np.testing.assert_array_equal(once, np.flip(x, axis))
        np.testing.assert_array_equal(flip.apply_batch(once), x)
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0).apply_batch(x), x)


def test_flip_is_drawn_per_sample_and_seeded() -> None:
    x = batch(n=200, size=4)
    out = RandomHorizontalFlip(generator=ember.Generator(0)).apply_batch(x)
    flipped = np.array([np.array_equal(o, np.flip(s, -1)) for o, s in zip(out, x, strict=True)])
    kept = np.array([np.array_equal(o, s) for o, s in zip(out, x, strict=True)])
    assert np.all(flipped | kept) and 70 < flipped.sum() < 130
    again = RandomHorizontalFlip(generator=ember.Generator(0)).apply_batch(x)
    np.testing.assert_array_equal(out, again)


def test_random_crop_with_padding_keeps_the_size_and_is_a_window_of_the_padded_image() -> None:
    x = batch(n=20, size=8)
    out = RandomCrop(8, padding=2, generator=ember.Generator(1)).apply_batch(x)
    assert out.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for n in range(len(x)):
        matches = [
            (i, j)
            for i in range(5)
            for j in range(5)
            if np.array_equal(out[n], padded[n, :, i : i + 8, j : j + 8])
        ]
        assert matches, f"sample {n} is not a window of its padded image"
        offsets.add(matches[0])
    assert len(offsets) > 5  # different samples, different offsets
    np.testing.assert_array_equal(RandomCrop(8).apply_batch(x), x)


def test_random_crop_on_uint8_images_per_sample_and_padding_modes() -> None:
    image = np.arange(36, dtype=np.uint8).reshape(6, 6)
    out = RandomCrop(4, generator=ember.Generator(0))(image)
    assert out.dtype == np.uint8 and out.shape == (4, 4)
    assert any(np.array_equal(out, image[i : i + 4, j : j + 4]) for i in range(3) for j in range(3))
    for mode in ("edge", "reflect", "symmetric"):
        padded = Pad(2, padding_mode=mode)(image)
        np.testing.assert_array_equal(padded, np.pad(image, 2, mode=mode))
    np.testing.assert_array_equal(
        Pad((1, 2), fill=7)(image), np.pad(image, ((2, 2), (1, 1)), constant_values=7)
    )
    grown = RandomCrop(8, pad_if_needed=True)(image)
    assert grown.shape == (8, 8)
    with pytest.raises(ValueError, match="larger than the image"):
        RandomCrop(8)(image)


def test_center_crop() -> None:
    image = Tensor(np.arange(2 * 7 * 6, dtype=np.float32).reshape(2, 7, 6))
    np.testing.assert_array_equal(CenterCrop(3)(image).array, image.array[:, 2:5, 2:5])
    assert CenterCrop(10)(image).shape == (2, 10, 10)


def test_resize_is_pillows() -> None:
    image = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    out = Resize(6)(image)
    assert out.shape == (6, 10, 3)
    expected = np.asarray(Image.fromarray(image).resize((10, 6), Image.Resampling.BILINEAR))
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1
    assert Resize((5, 4))(Tensor(np.zeros((1, 9, 9), np.float32))).shape == (1, 5, 4)
