"""Colour jitter and Gaussian noise: each adjustment changes the statistic it names, by the amount asked."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

import ember
from ember.data.transforms import ColorJitter, GaussianNoise
from ember.data.transforms.color import hsv_to_rgb, rgb_to_hsv


def batch(n: int = 8, channels: int = 3, low: float = 0.1, high: float = 0.5) -> np.ndarray:
    return np.random.default_rng(0).uniform(low, high, (n, channels, 6, 6)).astype(np.float32)


def test_brightness_changes_the_mean_as_asked() -> None:
    x = batch()
    out = ColorJitter(brightness=(1.5, 1.5)).apply_batch(x)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 1.5 * x.mean(axis=(1, 2, 3)), rtol=1e-5)
    factors = ColorJitter(brightness=0.4, generator=ember.Generator(0)).apply_batch(x) / x
    per_sample = factors.reshape(len(x), -1)
    np.testing.assert_allclose(per_sample, np.repeat(per_sample[:, :1], 108, 1), rtol=1e-5)  # one per image
    assert np.all((per_sample > 0.6 - 1e-6) & (per_sample < 1.4 + 1e-6)) and np.ptp(per_sample[:, 0]) > 0.05


def test_contrast_scales_the_spread_about_the_grey_mean() -> None:
    x = batch(channels=1)
    out = ColorJitter(contrast=(0.5, 0.5)).apply_batch(x)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), x.mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 0.5 * x.std(axis=(1, 2, 3)), rtol=1e-4)


def test_saturation_zero_gives_grey_and_grey_images_are_left_alone() -> None:
    x = batch()
    grey = ColorJitter(saturation=(0, 0)).apply_batch(x)
    luma = 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for c in range(3):
        np.testing.assert_allclose(grey[:, c], luma, rtol=1e-5)
    single = batch(channels=1)
    np.testing.assert_array_equal(ColorJitter(saturation=0.5, hue=0.2).apply_batch(single), single)


def test_hue_rotates_hue() -> None:
    colours = np.random.default_rng(1).random((5, 3, 4, 4), dtype=np.float32)
    hsv = rgb_to_hsv(colours)
    reference = colorsys.rgb_to_hsv(*colours[0, :, 0, 0])
    np.testing.assert_allclose(hsv[0, :, 0, 0], reference, atol=1e-6)
    np.testing.assert_allclose(hsv_to_rgb(hsv), colours, atol=1e-6)
    red = np.zeros((1, 3, 1, 1), np.float32)
    red[0, 0] = 1
    green = ColorJitter(hue=(1 / 3, 1 / 3)).apply_batch(red)
    np.testing.assert_allclose(green[0, :, 0, 0], [0, 1, 0], atol=1e-6)
    with pytest.raises(ValueError, match="hue"):
        ColorJitter(hue=0.7)


def test_color_jitter_on_uint8_images_stays_uint8() -> None:
    image = np.full((4, 4, 3), 100, np.uint8)
    out = ColorJitter(brightness=(2, 2))(image)
    assert out.dtype == np.uint8 and np.all(out == 200)


def test_gaussian_noise_statistics() -> None:
    x = np.full((16, 1, 32, 32), 0.5, np.float32)
    out = GaussianNoise(sigma=0.1, clip=False, generator=ember.Generator(0)).apply_batch(x)
    assert out.dtype == np.float32
    assert abs(out.mean() - 0.5) < 0.003 and abs(out.std() - 0.1) < 0.003
    clipped = GaussianNoise(sigma=1.0).apply_batch(x)
    assert clipped.min() >= 0 and clipped.max() <= 1
    with pytest.raises(TypeError, match="ToTensor first"):
        GaussianNoise().apply_batch(x.astype(np.uint8))
