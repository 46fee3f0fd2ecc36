"""What a transform is: one function with two faces, per sample (torchvision's) and per batch (the fast one).

Every transform here implements one method, ``apply_batch(x)``, on a whole batch as an N x C x H x W NumPy
array, vectorized over the batch with an independent random draw per sample. Calling the transform on one
sample goes through the same code on a batch of one, so both faces compute the same thing:

- a NumPy array is an *image*, H x W or H x W x C, uint8 (what torchvision's datasets hand out as a PIL
  image); the result is an image again, except after ``ToTensor``;
- an Ember ``Tensor`` is C x H x W (or a batch N x C x H x W, each sample with its own random draw) and the
  result is a Tensor.

``ArrayDataset.get_batch`` (the loader's fast path) slices a batch of images from the dataset's uint8 array,
views it as N x C x H x W and hands it to ``transform.apply_batch`` when the transform is ``batchable`` (every
transform here is; ``Compose`` is when all its parts are). A plain function, say a ``lambda``, makes a
pipeline per-sample only: still correct, just slower.

``apply_batch`` never writes into its input: the input may be a view of the dataset's own array.

Random draws come from, in order: the transform's own ``generator=``; the stream the ``DataLoader`` derives
for each batch from its seed (so a run is repeatable from the loader's seed alone, whatever ``num_workers``);
Ember's default generator (``ember.manual_seed``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy
from ember.random import Generator, numpy_generator

_local = threading.local()


@contextmanager
def random_source(
    rng: np.random.Generator | Callable[[], np.random.Generator] | None,
) -> Iterator[None]:
    """Within this block (and this thread), transforms without a generator of their own draw from ``rng``.

    ``rng`` may be a function that makes the generator: it is then called only if a transform draws.
    """
    previous = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield
    finally:
        _local.rng = previous


def generator_for(own: Generator | None) -> np.random.Generator:
    """The NumPy generator a transform draws from: its own, the loader's for this batch, or the default."""
    if own is not None:
        return own.numpy
    rng = getattr(_local, "rng", None)
    if rng is None:
        return numpy_generator(None)
    if not isinstance(rng, np.random.Generator):
        rng = _local.rng = rng()
    return rng


def to_nchw(images: np.ndarray) -> np.ndarray:
    """N x H x W or N x H x W x C images as an N x C x H x W view (no copy)."""
    return images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)


def from_nchw(batch: np.ndarray, image_ndim: int) -> np.ndarray:
    """Back to the image layout (N x H x W when there was no channel axis, else N x H x W x C)."""
    if image_ndim == 3:
        return batch[:, 0]
    return np.ascontiguousarray(batch.transpose(0, 2, 3, 1))


class Transform:
    """Base class: subclasses implement ``apply_batch`` on N x C x H x W arrays (see the module docstring)."""

    batchable: bool = True
    makes_tensor: bool = False  # True for ToTensor: an image goes in, a tensor comes out

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.apply_batch")

    def __call__(self, sample: Any) -> Any:
        if isinstance(sample, Tensor):
            array = sample.array
            if array.ndim not in (2, 3, 4):
                raise ValueError(
                    f"{type(self).__name__}: expected a C x H x W tensor, got shape {array.shape}"
                )
            batch = array if array.ndim == 4 else array.reshape((1,) * (4 - array.ndim) + array.shape)
            out = self.apply_batch(batch)
            return from_numpy(out if array.ndim == 4 else out[0])
        if isinstance(sample, np.ndarray):
            if sample.ndim not in (2, 3):
                raise ValueError(
                    f"{type(self).__name__}: expected an H x W or H x W x C image, got shape {sample.shape}"
                )
            out = self.apply_batch(to_nchw(sample[None]))
            if self.makes_tensor:
                return from_numpy(out[0])
            return from_nchw(out, sample.ndim + 1)[0]
        raise TypeError(
            f"{type(self).__name__}: expected an image (NumPy array, H x W or H x W x C) or an Ember Tensor "
            f"(C x H x W), got {type(sample).__name__}"
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class RandomTransform(Transform):
    """A transform that draws random numbers; ``generator`` pins its source (see the module docstring)."""

    def __init__(self, generator: Generator | None = None) -> None:
        self.generator = generator

    @property
    def rng(self) -> np.random.Generator:
        return generator_for(self.generator)

    def chosen(self, n: int, p: float) -> np.ndarray:
        """Which of ``n`` samples the transform applies to, each with probability ``p``."""
        return self.rng.random(n) < p


class Compose(Transform):
    """Apply transforms one after the other (torchvision's ``Compose``)."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    @property
    def batchable(self) -> bool:  # type: ignore[override]
        return all(getattr(t, "batchable", False) for t in self.transforms)

    @property
    def makes_tensor(self) -> bool:  # type: ignore[override]
        return any(getattr(t, "makes_tensor", False) for t in self.transforms)

    def __call__(self, sample: Any) -> Any:
        for transform in self.transforms:
            sample = transform(sample)
        return sample

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        for transform in self.transforms:
            x = transform.apply_batch(x)  # type: ignore[attr-defined]
        return x

    def __repr__(self) -> str:
        body = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({body}\n)"


class Lambda(Transform):
    """A user function as a transform (per sample only, since a function knows nothing of batches)."""

    batchable = False

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Lambda: argument should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, sample: Any) -> Any:
        return self.lambd(sample)


def batch_images(images: np.ndarray, transform: Callable[[Any], Any] | None) -> np.ndarray:
    """Transform a batch of uint8 images (N x H x W (x C)) as one call, or sample by sample if it must."""
    if transform is None:
        return images
    if getattr(transform, "batchable", False):
        out = transform.apply_batch(to_nchw(images))  # type: ignore[attr-defined]
        return out if transform.makes_tensor else from_nchw(out, images.ndim)  # type: ignore[attr-defined]
    samples = [transform(image) for image in images]
    return np.stack([s.array if isinstance(s, Tensor) else np.asarray(s) for s in samples])


def as_float(x: np.ndarray) -> np.ndarray:
    """Float32 values in [0, 1] for uint8 input (arithmetic transforms then work on images and tensors)."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) * np.float32(1 / 255)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def like(result: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Back to the type of ``original``: uint8 images are rounded and clipped to 0..255."""
    if original.dtype == np.uint8:
        return np.clip(np.rint(result * 255), 0, 255).astype(np.uint8)
    return result.astype(original.dtype, copy=False)


def pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """A size given as one int (square) or (height, width)."""
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    if len(value) == 1:
        return int(value[0]), int(value[0])
    if len(value) != 2:
        raise ValueError(f"{name}: a size is an int or (height, width), got {value!r}")
    return int(value[0]), int(value[1])


def value_range(value: float | Sequence[float], name: str, center: float = 0.0) -> tuple[float, float]:
    """A range given as one number v (meaning center - v .. center + v) or as (low, high)."""
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{name}: a single value must be non-negative, got {value}")
        return center - value, center + value
    low, high = (float(v) for v in value)
    if low > high:
        raise ValueError(f"{name}: range ({low}, {high}) has low > high")
    return low, high
