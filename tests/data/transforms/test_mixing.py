"""RandomErasing, MixUp and CutMix: the boxes and the mixing weights they promise."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd import Tensor
from ember.data.transforms import CutMix, MixUp, Mixup, RandomErasing


def test_random_erasing_blanks_one_box_per_chosen_sample() -> None:
    x = np.ones((200, 3, 20, 30), np.float32)
    out = RandomErasing(p=1.0, scale=(0.05, 0.2), generator=ember.Generator(0)).apply_batch(x)
    for sample in out:
        rows, cols = np.nonzero(sample[0] == 0)
        if rows.size == 0:
            continue  # no box fitted in ten tries: left unchanged, as torchvision does
        box = sample[:, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert np.all(box == 0)  # a full rectangle, in every channel
        assert 0.04 <= rows.size / 600 <= 0.23  # the fraction asked, up to the rounding of the sides
    assert (out == 0).any(axis=(1, 2, 3)).mean() > 0.9
    np.testing.assert_array_equal(RandomErasing(p=0.0).apply_batch(x), x)
    noisy = RandomErasing(p=1.0, value="random", generator=ember.Generator(1)).apply_batch(x)
    assert (noisy != 1).any() and noisy.dtype == np.float32


def test_mixup_mixes_images_and_labels_with_one_weight() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((6, 1, 4, 4), dtype=np.float32)
    labels = np.array([0, 1, 2, 3, 4, 5])
    mixed, soft = MixUp(alpha=0.4, num_classes=6, generator=ember.Generator(0))(
        Tensor(images), Tensor(labels)
    )
    assert isinstance(mixed, Tensor) and soft.shape == (6, 6) and soft.dtype == np.float32
    np.testing.assert_allclose(soft.array.sum(axis=1), 1, rtol=1e-6)
    lam = soft.array[0, 0]
    np.testing.assert_allclose(mixed.array, lam * images + (1 - lam) * np.roll(images, 1, 0), rtol=1e-5)
    assert soft.array[0, 5] == pytest.approx(1 - lam, rel=1e-6) and Mixup is MixUp


def test_cutmix_label_weight_is_the_kept_area() -> None:
    images = np.stack([np.full((3, 10, 10), i, np.float32) for i in range(4)])
    mixed, soft = CutMix(alpha=1.0, num_classes=4, generator=ember.Generator(3))(images, np.arange(4))
    for i in range(4):
        kept = (mixed[i, 0] == i).mean()
        np.testing.assert_allclose(soft[i, i], kept, rtol=1e-6)
        np.testing.assert_allclose(soft[i, (i - 1) % 4], 1 - kept, rtol=1e-6)
