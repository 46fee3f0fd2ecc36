"""Photometric augmentation: colour jitter ("randomize contrast and brightness") and additive Gaussian noise.

``ColorJitter`` follows torchvision's definitions, each a blend ``clamp(f * image + (1 - f) * other, 0, 1)``:
brightness blends with black, contrast with the image's mean grey level, saturation with its grey image (ITU-R
601 luma, 0.2989 R + 0.587 G + 0.114 B), and hue rotates the hue in HSV space. Every sample gets its own
factors; the four adjustments run in a random order (one order per batch). Grey images skip saturation and
hue. ``GaussianNoise`` is the lecture's "add noise" (torchvision v2's ``GaussianNoise``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ember.data.transforms.base import RandomTransform, as_float, like, value_range
from ember.random import Generator

LUMA = np.array([0.2989, 0.587, 0.114], dtype=np.float32).reshape(1, 3, 1, 1)


def grayscale(x: np.ndarray) -> np.ndarray:
    """N x 1 x H x W grey levels of float RGB (or grey) images."""
    if x.shape[1] == 1:
        return x
    return (x * LUMA).sum(axis=1, keepdims=True, dtype=np.float32)


def _blend(x: np.ndarray, other: np.ndarray | float, factor: np.ndarray) -> np.ndarray:
    factor = factor.astype(np.float32).reshape(-1, 1, 1, 1)
    return np.clip(factor * x + (1 - factor) * other, 0, 1)


def rgb_to_hsv(x: np.ndarray) -> np.ndarray:
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    maxc, minc = x.max(axis=1), x.min(axis=1)
    delta = maxc - minc
    safe = np.where(delta == 0, 1, delta)
    saturation = delta / np.where(maxc == 0, 1, maxc)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    hue = np.where(maxc == r, bc - gc, np.where(maxc == g, 2 + rc - bc, 4 + gc - rc))
    hue = np.where(delta == 0, 0, (hue / 6) % 1)
    return np.stack([hue, saturation, maxc], axis=1).astype(np.float32)


def hsv_to_rgb(x: np.ndarray) -> np.ndarray:
    hue, saturation, value = x[:, 0], x[:, 1], x[:, 2]
    sector = np.floor(hue * 6)
    fraction = hue * 6 - sector
    sector = sector.astype(np.int64) % 6
    p = value * (1 - saturation)
    q = value * (1 - saturation * fraction)
    t = value * (1 - saturation * (1 - fraction))
    choices = [
        (value, t, p),
        (q, value, p),
        (p, value, t),
        (p, q, value),
        (t, p, value),
        (value, p, q),
    ]
    channels = [np.choose(sector, [c[i] for c in choices]) for i in range(3)]
    return np.stack(channels, axis=1).astype(np.float32)


class ColorJitter(RandomTransform):
    """Random brightness, contrast, saturation and hue (torchvision's ``ColorJitter``)."""

    def __init__(
        self,
        brightness: float | Sequence[float] = 0,
        contrast: float | Sequence[float] = 0,
        saturation: float | Sequence[float] = 0,
        hue: float | Sequence[float] = 0,
        generator: Generator | None = None,
    ) -> None:
        super().__init__(generator)
        self.brightness = self._factor_range(brightness, "brightness")
        self.contrast = self._factor_range(contrast, "contrast")
        self.saturation = self._factor_range(saturation, "saturation")
        self.hue = value_range(hue, "hue") if hue else None
        if self.hue is not None and not -0.5 <= self.hue[0] <= self.hue[1] <= 0.5:
            raise ValueError(f"ColorJitter: hue must lie in [-0.5, 0.5], got {self.hue}")

    @staticmethod
    def _factor_range(value: float | Sequence[float], name: str) -> tuple[float, float] | None:
        if isinstance(value, int | float) and value == 0:
            return None
        low, high = value_range(value, name, center=1.0)
        return max(low, 0.0), high

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        n, rng = len(x), self.rng
        out = as_float(x)
        for which in rng.permutation(4):
            if which == 0 and self.brightness is not None:
                out = _blend(out, 0.0, rng.uniform(*self.brightness, size=n))
            elif which == 1 and self.contrast is not None:
                mean = grayscale(out).mean(axis=(1, 2, 3), keepdims=True)
                out = _blend(out, mean, rng.uniform(*self.contrast, size=n))
            elif which == 2 and self.saturation is not None:
                factor = rng.uniform(*self.saturation, size=n)
                out = _blend(out, grayscale(out), factor) if out.shape[1] == 3 else out
            elif which == 3 and self.hue is not None:
                shift = rng.uniform(*self.hue, size=n).astype(np.float32)
                if out.shape[1] == 3:
                    hsv = rgb_to_hsv(out)
                    hsv[:, 0] = (hsv[:, 0] + shift.reshape(-1, 1, 1)) % 1
                    out = hsv_to_rgb(hsv)
        return like(out, x)


class GaussianNoise(RandomTransform):
    """Add N(mean, sigma^2) noise to every pixel of a float tensor, then clip to [0, 1] if ``clip``."""

    def __init__(
        self,
        mean: float = 0.0,
        sigma: float = 0.1,
        clip: bool = True,
        generator: Generator | None = None,
    ) -> None:
        super().__init__(generator)
        self.mean, self.sigma, self.clip = mean, sigma, clip

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":
            raise TypeError(f"GaussianNoise: expected a float tensor (apply ToTensor first), got {x.dtype}")
        noise = self.rng.standard_normal(x.shape, dtype=np.float32) * np.float32(self.sigma)
        out = x + (noise + np.float32(self.mean)).astype(x.dtype)
        return np.clip(out, 0, 1) if self.clip else out
