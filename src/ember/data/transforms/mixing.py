"""Augmentation by regions and by mixing samples: ``RandomErasing`` (cutout), ``MixUp`` and ``CutMix``.

``RandomErasing`` (Zhong et al., 2017; DeVries and Taylor's cutout) blanks a random box per sample, with
torchvision's box sampling, as one masked ``where`` over the batch. ``MixUp`` (Zhang et al., 2018) and
``CutMix`` (Yun et al., 2019) work on a whole batch of images *and labels*, so they run after the loader (as
torchvision v2 recommends): ``images, soft_labels = mixup(images, labels)``. As in torchvision v2, one mixing
weight lam ~ Beta(alpha, alpha) is drawn per batch and each sample is mixed with its neighbour in the batch
(the batch rolled by one); labels become one-hot rows mixed with the same weight (for CutMix, the pasted box's
actual area).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy
from ember.data.transforms.base import RandomTransform
from ember.data.transforms.geometric import sample_boxes
from ember.random import Generator


class RandomErasing(RandomTransform):
    """Erase a random box (area fraction ``scale``, aspect ``ratio``) with probability ``p`` per sample.

    ``value`` is a number, one number per channel, or ``"random"`` (standard-normal noise), on float tensors.
    """

    def __init__(
        self,
        p: float = 0.5,
        scale: tuple[float, float] = (0.02, 0.33),
        ratio: tuple[float, float] = (0.3, 3.3),
        value: float | Sequence[float] | str = 0,
        inplace: bool = False,
        generator: Generator | None = None,
    ) -> None:
        super().__init__(generator)
        if isinstance(value, str) and value != "random":
            raise ValueError(f"RandomErasing: value must be a number, a sequence or 'random', got {value!r}")
        self.p, self.scale, self.ratio, self.value = p, scale, ratio, value
        self.inplace = inplace  # accepted for PyTorch compatibility; the batch is never modified in place

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":
            raise TypeError(f"RandomErasing: expected a float tensor (apply ToTensor first), got {x.dtype}")
        n, height, width = len(x), x.shape[2], x.shape[3]
        chosen = self.chosen(n, self.p)
        # torchvision's height uses area * ratio: the shared sampler with the inverted range draws alike.
        inverted = (1 / self.ratio[1], 1 / self.ratio[0])
        found, top, left, box_h, box_w = sample_boxes(
            self.rng, n, (height, width), self.scale, inverted, inclusive=False
        )
        rows = np.arange(height).reshape(1, -1, 1)
        cols = np.arange(width).reshape(1, 1, -1)
        inside = (
            ((rows >= top[:, None, None]) & (rows < (top + box_h)[:, None, None]))
            & ((cols >= left[:, None, None]) & (cols < (left + box_w)[:, None, None]))
            & (chosen & found)[:, None, None]
        )
        if isinstance(self.value, str):
            fill: Any = self.rng.standard_normal(x.shape, dtype=np.float32)
        else:
            fill = np.asarray(self.value, dtype=x.dtype).reshape(1, -1, 1, 1)
        return np.where(inside[:, None], fill, x).astype(x.dtype, copy=False)


def _arrays(images: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    was_tensor = isinstance(images, Tensor)
    images = images.array if isinstance(images, Tensor) else np.asarray(images)
    labels = labels.array if isinstance(labels, Tensor) else np.asarray(labels)
    if images.ndim != 4 or images.dtype.kind != "f":
        raise ValueError(f"expected a float batch N x C x H x W, got {images.dtype} {images.shape}")
    return images, labels, was_tensor


class _BatchMixer:
    """Shared by MixUp and CutMix: validate, one-hot the labels, mix them with the rolled batch."""

    def __init__(self, alpha: float, num_classes: int | None, generator: Generator | None) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        self.alpha, self.num_classes, self.generator = alpha, num_classes, generator

    def soft_labels(self, labels: np.ndarray, lam: float, dtype: np.dtype[Any]) -> np.ndarray:
        if labels.ndim == 1:
            if self.num_classes is None:
                raise ValueError(f"{type(self).__name__}: num_classes is needed to one-hot integer labels")
            labels = np.eye(self.num_classes, dtype=dtype)[labels]
        labels = labels.astype(dtype, copy=False)
        return (lam * labels + (1 - lam) * np.roll(labels, 1, axis=0)).astype(dtype)

    def __call__(self, images: Any, labels: Any) -> tuple[Any, Any]:
        from ember.data.transforms.base import generator_for

        images, labels, was_tensor = _arrays(images, labels)
        rng = generator_for(self.generator)
        lam = float(rng.beta(self.alpha, self.alpha))
        mixed, lam = self.mix(images, lam, rng)
        targets = self.soft_labels(labels, lam, images.dtype)
        if was_tensor:
            return from_numpy(mixed), from_numpy(targets)
        return mixed, targets

    def mix(self, images: np.ndarray, lam: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha}, num_classes={self.num_classes})"


class MixUp(_BatchMixer):
    """``lam * x_i + (1 - lam) * x_{i-1}``, labels alike (torchvision v2's ``MixUp``)."""

    def __init__(
        self, alpha: float = 1.0, num_classes: int | None = None, generator: Generator | None = None
    ):
        super().__init__(alpha, num_classes, generator)

    def mix(self, images: np.ndarray, lam: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        weight = np.float32(lam).astype(images.dtype)
        return (weight * images + (1 - weight) * np.roll(images, 1, axis=0)).astype(images.dtype), lam


class CutMix(_BatchMixer):
    """Paste a box of the neighbour's image; labels mixed by the box's area (torchvision v2's ``CutMix``)."""

    def __init__(
        self, alpha: float = 1.0, num_classes: int | None = None, generator: Generator | None = None
    ):
        super().__init__(alpha, num_classes, generator)

    def mix(self, images: np.ndarray, lam: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        height, width = images.shape[2:]
        center_x, center_y = int(rng.integers(0, width)), int(rng.integers(0, height))
        half = 0.5 * np.sqrt(1.0 - lam)
        half_w, half_h = int(half * width), int(half * height)
        x1, x2 = max(center_x - half_w, 0), min(center_x + half_w, width)
        y1, y2 = max(center_y - half_h, 0), min(center_y + half_h, height)
        mixed = images.copy()
        mixed[:, :, y1:y2, x1:x2] = np.roll(images, 1, axis=0)[:, :, y1:y2, x1:x2]
        return mixed, 1.0 - (x2 - x1) * (y2 - y1) / (width * height)


Mixup = MixUp  # the course's spelling
