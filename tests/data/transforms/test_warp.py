"""Interpolating augmentations: rotation, affine, resized crops, ResNet scale augmentation, lens."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import ember
from ember.data.transforms import (
    RandomAffine,
    RandomLensDistortion,
    RandomResizedCrop,
    RandomRotation,
    RandomScaleCrop,
)
from ember.data.transforms.warp import resize_boxes


def batch(n: int = 4, channels: int = 2, height: int = 9, width: int = 9) -> np.ndarray:
    return np.random.default_rng(0).random((n, channels, height, width), dtype=np.float32)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotation_by_90_degrees_equals_rot90(interpolation: str) -> None:
    x = batch(height=8, width=8)
    out = RandomRotation((90, 90), interpolation=interpolation).apply_batch(x)
    np.testing.assert_allclose(out, np.rot90(x, k=1, axes=(2, 3)), atol=1e-6)
    back = RandomRotation((-90, -90), interpolation=interpolation).apply_batch(out)
    np.testing.assert_allclose(back, x, atol=1e-6)
    image = np.arange(25, dtype=np.uint8).reshape(5, 5)
    np.testing.assert_array_equal(RandomRotation((180, 180))(image), image[::-1, ::-1])


def test_rotation_fills_the_corners_and_is_seeded() -> None:
    x = np.ones((3, 1, 11, 11), np.float32)
    out = RandomRotation((45, 45), fill=0.25).apply_batch(x)
    assert out[0, 0, 0, 0] == pytest.approx(0.25) and out[0, 0, 5, 5] == 1
    first = RandomRotation(30, generator=ember.Generator(4)).apply_batch(batch())
    second = RandomRotation(30, generator=ember.Generator(4)).apply_batch(batch())
    np.testing.assert_array_equal(first, second)
    with pytest.raises(NotImplementedError):
        RandomRotation(10, expand=True)


def test_affine_translation_scale_and_shear() -> None:
    x = batch(n=1, channels=1)
    shifted = RandomAffine(0, translate=(0.0, 0.0)).apply_batch(x)
    np.testing.assert_array_equal(shifted, x)
    # translate up to 1/9 of the width: the result is the image moved by a whole number of pixels.
    moved = RandomAffine(0, translate=(1 / 9, 0), generator=ember.Generator(3)).apply_batch(
        np.repeat(x, 8, 0)
    )
    for sample in moved:
        shifts = [
            s for s in (-1, 0, 1) if np.allclose(sample[0, :, 1:-1], np.roll(x[0, 0], s, axis=1)[:, 1:-1])
        ]
        assert shifts
    ramp = np.tile(np.arange(9, dtype=np.float32), (9, 1))[None, None]
    zoomed = RandomAffine(0, scale=(2.0, 2.0), interpolation="bilinear").apply_batch(ramp)
    np.testing.assert_allclose(zoomed[0, 0, 4, 2:7], 4 + (np.arange(2, 7) - 4) / 2, atol=1e-5)
    sheared = RandomAffine(0, shear=(45, 45), interpolation="bilinear").apply_batch(ramp)
    # x-shear by 45 degrees: row r of the output samples column c - (r - 4) of the input.
    np.testing.assert_allclose(sheared[0, 0, 5, 2:7], np.arange(2, 7) - 1, atol=1e-5)


def test_resized_crop_matches_torch_interpolate() -> None:
    x = batch(height=6, width=6)
    whole = RandomResizedCrop(12, scale=(1, 1), ratio=(1, 1)).apply_batch(x)
    reference = torch.nn.functional.interpolate(
        torch.from_numpy(x), size=12, mode="bilinear", align_corners=False
    ).numpy()
    np.testing.assert_allclose(whole, reference, atol=1e-6)
    same = RandomResizedCrop(6, scale=(1, 1), ratio=(1, 1)).apply_batch(x)
    np.testing.assert_allclose(same, x, atol=1e-6)
    boxes = resize_boxes(
        x, np.array([1] * 4), np.array([2] * 4), np.array([3] * 4), np.array([3] * 4), (3, 3)
    )
    np.testing.assert_allclose(boxes, x[:, :, 1:4, 2:5], atol=1e-6)


def test_resized_crop_boxes_follow_scale_and_ratio() -> None:
    crop = RandomResizedCrop(8, scale=(0.2, 0.5), ratio=(0.5, 2.0), generator=ember.Generator(0))
    top, left, box_h, box_w = crop.boxes(500, 40, 60)
    area = box_h * box_w / (40 * 60)
    assert np.all((area > 0.18) & (area < 0.52))
    assert np.all((box_w / box_h > 0.45) & (box_w / box_h < 2.2))
    assert np.all((top >= 0) & (top + box_h <= 40) & (left >= 0) & (left + box_w <= 60))
    assert crop.apply_batch(batch(height=40, width=60)).shape == (4, 2, 8, 8)


def test_resnet_scale_augmentation() -> None:
    x = batch(height=10, width=14)
    identity = RandomScaleCrop(10, short_side=(10, 10)).apply_batch(x[:, :, :, :10])
    np.testing.assert_allclose(identity, x[:, :, :, :10], atol=1e-6)
    out = RandomScaleCrop(8, short_side=(8, 16), generator=ember.Generator(0)).apply_batch(x)
    assert out.shape == (4, 2, 8, 8)
    # L = 20 doubles the 10 x 14 images: each crop is a window of the image resized to 20 x 28.
    doubled = torch.nn.functional.interpolate(
        torch.from_numpy(x), size=(20, 28), mode="bilinear", align_corners=False
    ).numpy()
    crops = RandomScaleCrop(8, short_side=(20, 20), generator=ember.Generator(1)).apply_batch(x)
    for n in range(len(x)):
        windows = [doubled[n, :, i : i + 8, j : j + 8] for i in range(13) for j in range(21)]
        assert any(np.allclose(crops[n], w, atol=1e-5) for w in windows)
    with pytest.raises(ValueError, match="at least the crop"):
        RandomScaleCrop(224, short_side=(128, 256))


def test_lens_distortion_moves_pixels_radially() -> None:
    ramp = np.tile(np.arange(11, dtype=np.float32), (11, 1))[None, None]
    np.testing.assert_allclose(RandomLensDistortion((0, 0), p=1).apply_batch(ramp), ramp, atol=1e-6)
    out = RandomLensDistortion((0.2, 0.2), p=1).apply_batch(ramp)
    # On the middle row, output column c samples 5 + u (1 + k u^2) * 5.5, u = (c - 5) / 5.5 (half the side).
    u = (np.arange(11) - 5) / 5.5
    expected = 5 + u * (1 + 0.2 * u * u) * 5.5
    inside = np.abs(expected - 5) <= 5
    np.testing.assert_allclose(out[0, 0, 5][inside], expected[inside], atol=1e-4)
    assert out[0, 0, 5, 0] == 0  # sampled outside the image: filled


def test_missing_scipy_explains_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy.ndimage", None)
    with pytest.raises(ImportError, match=r"pip install 'ember\[vision\]'"):
        RandomRotation(10).apply_batch(batch())
