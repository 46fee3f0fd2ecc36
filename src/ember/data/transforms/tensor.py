"""From pixels to network inputs: ``ToTensor``, ``Normalize``, mean-image subtraction, and the statistics they
use.

The lecture's preprocessing is zero-centring ("average all images in the dataset and subtract that from each
input", the mean image; dividing by the standard deviation is optional) or per-channel normalization ``(x -
mean_c) / std_c`` with the training set's channel statistics (MNIST: 0.1307 and 0.3081). ``channel_stats`` and
``mean_image`` compute them over the data set's array in chunks, in float64 so that 47 million pixels add up
exactly enough. ``ToTensor`` and ``Normalize`` do torchvision's float32 steps (divide by 255; subtract, then
divide), so their values match it bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.data.transforms.base import Transform, to_nchw


class ToTensor(Transform):
    """uint8 image H x W (x C) in 0..255 -> float32 tensor C x H x W in [0, 1] (torchvision's)."""

    makes_tensor = True

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        if x.dtype == np.uint8:
            return np.divide(x, np.float32(255), dtype=np.float32)
        return np.ascontiguousarray(x)

    def __repr__(self) -> str:
        return "ToTensor()"


def _per_channel(values: float | Sequence[float] | np.ndarray, channels: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, channels)
    if array.size != channels:
        raise ValueError(f"Normalize: {name} has {array.size} values for an image with {channels} channels")
    return array.reshape(1, channels, 1, 1)


class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` per channel, on float tensors (torchvision's ``Normalize``)."""

    def __init__(
        self, mean: Sequence[float] | float, std: Sequence[float] | float, inplace: bool = False
    ) -> None:
        self.mean = mean
        self.std = std
        self.inplace = inplace  # accepted for PyTorch compatibility; a batch is never modified in place
        if np.any(np.asarray(std, dtype=np.float64) == 0):
            raise ValueError(f"Normalize: std evaluated to zero ({std}), leading to division by zero")

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":
            raise TypeError(f"Normalize: expected a float tensor (apply ToTensor first), got {x.dtype}")
        channels = x.shape[1]
        mean = _per_channel(self.mean, channels, "mean").astype(x.dtype)
        std = _per_channel(self.std, channels, "std").astype(x.dtype)
        out = np.subtract(x, mean)
        return np.divide(out, std, out=out)  # the same float32 steps as torchvision's sub_ then div_


class SubtractMean(Transform):
    """Subtract a mean image (C x H x W) or per-channel means: the lecture's zero-centring."""

    def __init__(self, mean: np.ndarray | Tensor | Sequence[float]) -> None:
        mean = mean.array if isinstance(mean, Tensor) else np.asarray(mean, dtype=np.float32)
        self.mean = mean.astype(np.float32)

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":
            raise TypeError(f"SubtractMean: expected a float tensor (apply ToTensor first), got {x.dtype}")
        mean = self.mean if self.mean.ndim == 3 else self.mean.reshape(1, -1, 1, 1)
        return x - mean.astype(x.dtype)


def _chunks(source: Any, chunk: int = 4096) -> Iterator[np.ndarray]:
    """A data set (or array) as float64 N x C x H x W chunks in the [0, 1] scale of ``ToTensor``."""
    if isinstance(source, Tensor | np.ndarray):
        data = source.array if isinstance(source, Tensor) else source
    else:  # an array-backed data set's images, if it has them
        data = getattr(source, "data", source)
    if isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim in (3, 4):
        for start in range(0, len(data), chunk):
            yield to_nchw(data[start : start + chunk]).astype(np.float64) / 255.0
    elif isinstance(data, np.ndarray) and data.ndim == 4:
        for start in range(0, len(data), chunk):
            yield data[start : start + chunk].astype(np.float64)
    else:  # a generic dataset of (tensor, label) samples
        for sample in source:
            image = sample[0] if isinstance(sample, tuple | list) else sample
            image = image.array if isinstance(image, Tensor) else np.asarray(image)
            yield image.reshape((1,) * (4 - image.ndim) + image.shape).astype(np.float64)


def mean_image(source: Any) -> np.ndarray:
    """The average image, C x H x W float32 in [0, 1]: subtract it from every input to zero-centre."""
    total: np.ndarray | None = None
    count = 0
    for chunk in _chunks(source):
        total = chunk.sum(axis=0) if total is None else total + chunk.sum(axis=0)
        count += len(chunk)
    if total is None:
        raise ValueError("mean_image: the data set is empty")
    return (total / count).astype(np.float32)


def channel_stats(source: Any) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation over all pixels of all images (``ToTensor``'s [0, 1] scale).

    ``source`` is an array-backed dataset (uses its uint8 ``.data``), a uint8 image array N x H x W (x C), a
    float array N x C x H x W, or any dataset of (C x H x W tensor, label) samples. Two passes: mean, then the
    mean squared deviation from it (the population standard deviation, as torchvision's published values).
    """
    sums: np.ndarray | None = None
    count = 0
    for chunk in _chunks(source):
        part = chunk.sum(axis=(0, 2, 3))
        sums = part if sums is None else sums + part
        count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
    if sums is None:
        raise ValueError("channel_stats: the data set is empty")
    mean = sums / count
    squares = sum(((chunk - mean.reshape(1, -1, 1, 1)) ** 2).sum(axis=(0, 2, 3)) for chunk in _chunks(source))
    std = np.sqrt(squares / count)
    return [float(m) for m in mean], [float(s) for s in std]
