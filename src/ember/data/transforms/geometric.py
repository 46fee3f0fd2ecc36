"""Geometric augmentation that moves whole pixels: flips, padding, crops, and resizing to a fixed size.

The course's first augmentations: horizontal flips, and random crops (with padding, as for CIFAR: pad 4, crop
32 again, a translation by up to 4 pixels). On a batch they are pure indexing, vectorized over the samples: a
flip is a reversed view chosen per sample; a random crop pads the batch once and gathers each sample's window
from a strided view of all windows (``sliding_window_view``), so no pixel is interpolated and uint8 stays
uint8.

``Resize`` interpolates with Pillow, per image and channel, exactly as torchvision does for PIL images
(antialiased when shrinking).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ember.data.optional import require
from ember.data.transforms.base import RandomTransform, Transform, pair
from ember.random import Generator


class InterpolationMode(StrEnum):
    """torchvision's interpolation names (plain strings are accepted too)."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


class RandomHorizontalFlip(RandomTransform):
    """Mirror left-right with probability ``p`` (each sample drawn on its own)."""

    def __init__(self, p: float = 0.5, generator: Generator | None = None) -> None:
        super().__init__(generator)
        self.p = p

    axis = -1

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        flip = self.chosen(len(x), self.p)
        out = x.copy()
        out[flip] = np.flip(x[flip], axis=self.axis)
        return out


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top-bottom with probability ``p``."""

    axis = -2


def _padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """torchvision's padding forms -> (left, top, right, bottom)."""
    if isinstance(padding, int | np.integer):
        return (int(padding),) * 4
    values = [int(p) for p in padding]
    if len(values) == 2:
        return values[0], values[1], values[0], values[1]
    if len(values) == 4:
        return values[0], values[1], values[2], values[3]
    raise ValueError(f"padding must be an int or a sequence of 2 or 4 ints, got {padding!r}")


PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


def pad(
    x: np.ndarray, padding: int | Sequence[int], fill: float = 0, padding_mode: str = "constant"
) -> np.ndarray:
    """Pad the last two axes of an N x C x H x W batch (torchvision's padding forms and modes)."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    left, top, right, bottom = _padding(padding)
    if not any((left, top, right, bottom)):
        return x
    if padding_mode == "constant":  # a filled array and one copy: several times faster than np.pad
        out = np.full((*x.shape[:2], x.shape[2] + top + bottom, x.shape[3] + left + right), fill, x.dtype)
        out[:, :, top : top + x.shape[2], left : left + x.shape[3]] = x
        return out
    widths = ((0, 0), (0, 0), (top, bottom), (left, right))
    return np.pad(x, widths, mode=padding_mode)  # type: ignore[call-overload]


class Pad(Transform):
    """Pad every side (torchvision's ``Pad``)."""

    def __init__(self, padding: int | Sequence[int], fill: float = 0, padding_mode: str = "constant") -> None:
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        return pad(x, self.padding, self.fill, self.padding_mode)


def crop_windows(x: np.ndarray, top: np.ndarray, left: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Sample n's window of ``size`` at (top[n], left[n]), gathered for the whole batch at once."""
    windows = sliding_window_view(x, size, axis=(2, 3))  # N x C x (H-h+1) x (W-w+1) x h x w, a view
    return windows[np.arange(len(x)), :, top, left]


class RandomCrop(RandomTransform):
    """A random ``size`` window, after optional padding (torchvision's ``RandomCrop``)."""

    def __init__(
        self,
        size: int | Sequence[int],
        padding: int | Sequence[int] | None = None,
        pad_if_needed: bool = False,
        fill: float = 0,
        padding_mode: str = "constant",
        generator: Generator | None = None,
    ) -> None:
        super().__init__(generator)
        self.size = pair(size, "RandomCrop")
        self.padding, self.pad_if_needed = padding, pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        if self.padding is not None:
            x = pad(x, self.padding, self.fill, self.padding_mode)
        height, width = self.size
        if self.pad_if_needed:
            extra_w, extra_h = max(width - x.shape[3], 0), max(height - x.shape[2], 0)
            x = pad(x, (extra_w, extra_h), self.fill, self.padding_mode)
        if x.shape[2] < height or x.shape[3] < width:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the image {x.shape[2:]}")
        top = self.rng.integers(0, x.shape[2] - height + 1, len(x))
        left = self.rng.integers(0, x.shape[3] - width + 1, len(x))
        return crop_windows(x, top, left, self.size)


def sample_boxes(
    rng: np.random.Generator,
    n: int,
    shape: tuple[int, int],
    scale: tuple[float, float],
    ratio: tuple[float, float],
    inclusive: bool = True,
    tries: int = 10,
) -> tuple[np.ndarray, ...]:
    """torchvision's random-box sampling, vectorized: per sample, the first of ``tries`` boxes that fits.

    A box covers a uniform fraction ``scale`` of the area with a log-uniform aspect ratio (width / height) in
    ``ratio``; it fits if it lies inside the image (strictly inside when not ``inclusive``, as for erasing).
    Returns found (bool per sample), top, left, height, width; where nothing fit, found is False.
    """
    height, width = shape
    area = height * width * rng.uniform(scale[0], scale[1], size=(n, tries))
    aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1]), size=(n, tries)))
    box_w = np.rint(np.sqrt(area * aspect)).astype(np.int64)
    box_h = np.rint(np.sqrt(area / aspect)).astype(np.int64)
    fits = (box_w <= width) & (box_h <= height) if inclusive else (box_w < width) & (box_h < height)
    valid = fits & (box_w > 0) & (box_h > 0)
    first = np.argmax(valid, axis=1)
    rows = np.arange(n)
    found, box_h, box_w = valid[rows, first], box_h[rows, first], box_w[rows, first]
    top = rng.integers(0, np.maximum(height - box_h + 1, 1))
    left = rng.integers(0, np.maximum(width - box_w + 1, 1))
    return found, top, left, box_h, box_w


class CenterCrop(Transform):
    """The central ``size`` window, zero-padded first if the image is smaller (torchvision's)."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = pair(size, "CenterCrop")

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        height, width = self.size
        extra_h, extra_w = max(height - x.shape[2], 0), max(width - x.shape[3], 0)
        if extra_h or extra_w:
            x = pad(x, (extra_w // 2, extra_h // 2, (extra_w + 1) // 2, (extra_h + 1) // 2))
        top = round((x.shape[2] - height) / 2.0)
        left = round((x.shape[3] - width) / 2.0)
        return x[:, :, top : top + height, left : left + width]


def resized_shape(shape: tuple[int, int], size: int | Sequence[int], max_size: int | None) -> tuple[int, int]:
    """torchvision's rule: an int is the new shorter side (keeping the aspect ratio), a pair is exact."""
    if not isinstance(size, int | np.integer) and len(size) == 2:
        return int(size[0]), int(size[1])
    target = int(size if isinstance(size, int | np.integer) else size[0])
    height, width = shape
    short, long = min(height, width), max(height, width)
    new_short, new_long = target, int(target * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_short, new_long) if height <= width else (new_long, new_short)


class Resize(Transform):
    """Resize with Pillow (antialiased when shrinking, as torchvision on PIL images)."""

    def __init__(
        self,
        size: int | Sequence[int],
        interpolation: InterpolationMode | str = InterpolationMode.BILINEAR,
        max_size: int | None = None,
        antialias: bool = True,
    ) -> None:
        self.size, self.max_size, self.antialias = size, max_size, antialias
        self.interpolation = InterpolationMode(interpolation)

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        image = require("PIL.Image", "Resize")
        height, width = resized_shape(x.shape[2:], self.size, self.max_size)
        resample = {
            InterpolationMode.NEAREST: image.Resampling.NEAREST,
            InterpolationMode.BILINEAR: image.Resampling.BILINEAR,
            InterpolationMode.BICUBIC: image.Resampling.BICUBIC,
        }[self.interpolation]
        # 8-bit images resize as Pillow's "L" images do; anything else as 32-bit float "F" images.
        dtype = np.uint8 if x.dtype == np.uint8 else np.float32
        out = np.empty((*x.shape[:2], height, width), dtype=dtype)
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                plane = image.fromarray(np.ascontiguousarray(x[n, c], dtype=dtype))
                out[n, c] = np.asarray(plane.resize((width, height), resample))
        return out if x.dtype == dtype else out.astype(x.dtype)
