"""Hand-made features: HoG against scikit-image, hue histogram against matplotlib, HoG on Fashion-MNIST."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv
from skimage import data as skimage_data
from skimage.feature import hog as skimage_hog

from ember.classic import LinearClassifier, color_histogram, hog, rgb_to_hue

# Tolerance of the HoG comparison. scikit-image sums each cell's histogram in a C float (float32) accumulator;
# Ember sums in float64 (bincount) and, for uint8 and float32 images, computes gradients and normalizes in
# float32. The features are at most 1 (normalized blocks), and the differences stay near float32 rounding.
HOG_ATOL = 1e-6
HOG_RTOL = 1e-5


def skimage_features(images, cell, bins, block, block_norm, channel_axis=None):
    return np.stack(
        [
            skimage_hog(
                image,
                orientations=bins,
                pixels_per_cell=(cell, cell),
                cells_per_block=(block, block),
                block_norm=block_norm,
                channel_axis=channel_axis,
            )
            for image in images
        ]
    )


@pytest.mark.parametrize("block_norm", ["L1", "L1-sqrt", "L2", "L2-Hys"])
@pytest.mark.parametrize(("cell", "bins", "block"), [(8, 9, 3), (4, 9, 2), (7, 6, 2), (6, 12, 1)])
def test_hog_equals_skimage_on_grey_images(mnist, block_norm, cell, bins, block):
    images = mnist[0][:20]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (4, 30, 37), dtype=np.uint8)  # not a multiple of the cell: edges are cut
    for batch in (images, noise):
        expected = skimage_features(batch.astype(np.float64), cell, bins, block, block_norm)
        for dtype in (np.uint8, np.float32, np.float64):
            ours = hog(batch.astype(dtype), cell=cell, bins=bins, block=block, block_norm=block_norm)
            assert ours.dtype == (np.float64 if dtype == np.float64 else np.float32)
            np.testing.assert_allclose(ours, expected, rtol=HOG_RTOL, atol=HOG_ATOL)


def test_hog_equals_skimage_on_photographs():
    camera = skimage_data.camera()[::2, ::2]  # 256 x 256 grey, uint8
    np.testing.assert_allclose(
        hog(camera[None]), skimage_features(camera[None], 8, 9, 2, "L2-Hys"), rtol=HOG_RTOL, atol=HOG_ATOL
    )
    astronaut = skimage_data.astronaut()[::4, ::4] / 255.0  # 128 x 128 x 3 colour, float64 in [0, 1]
    ours = hog(astronaut.transpose(2, 0, 1)[None], cell=8, bins=9, block=2)  # NCHW
    expected = skimage_features(astronaut[None], 8, 9, 2, "L2-Hys", channel_axis=-1)
    np.testing.assert_allclose(ours, expected, rtol=HOG_RTOL, atol=HOG_ATOL)


def test_hog_shapes_and_errors():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    assert hog(images, cell=4, bins=9, block=2).shape == (3, 6 * 6 * 2 * 2 * 9)
    assert hog(images, cell=7, bins=8, block=1).shape == (3, 4 * 4 * 8)
    np.testing.assert_array_equal(hog(images), 0)  # no gradient, no division by zero
    with pytest.raises(ValueError, match="too small"):
        hog(images, cell=8, block=4)
    with pytest.raises(ValueError, match="block_norm"):
        hog(images, block_norm="L3")
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        hog(images[0])


def test_hog_is_invariant_to_brightness_and_contrast():
    image = skimage_data.camera()[None, :128, :128].astype(np.float64)
    np.testing.assert_allclose(hog(image), hog(3 * image + 40), atol=1e-6)


def test_hue_equals_matplotlib():
    rng = np.random.default_rng(0)
    images = rng.random((5, 3, 16, 16))
    images[:, :, :4] = np.round(images[:, :, :4] * 2) / 2  # channel ties and grey pixels
    expected = rgb_to_hsv(images.transpose(0, 2, 3, 1))[..., 0]
    np.testing.assert_allclose(rgb_to_hue(images), expected, atol=1e-12)


def test_color_histogram_equals_numpy_histogram_of_hue():
    photo = skimage_data.coffee()[::8, ::8]  # uint8 HWC
    rng = np.random.default_rng(0)
    images = np.stack([photo, rng.integers(0, 256, photo.shape, dtype=np.uint8)]).transpose(0, 3, 1, 2)
    hues = rgb_to_hsv(images.transpose(0, 2, 3, 1) / 255.0)[..., 0].reshape(2, -1)
    expected = np.stack([np.histogram(hue, bins=10, range=(0, 1))[0] / hue.size for hue in hues])
    ours = color_histogram(images / 255.0, bins=10)
    assert ours.shape == (2, 10) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=1e-7)
    np.testing.assert_allclose(ours.sum(axis=1), 1, rtol=1e-6)
    # The same pixels in 0..255: a hue exactly on a bin edge (channel differences 3/5 give hue 0.1) may round
    # to the other side when computed from other numbers; no other pixel may move.
    on_edge = np.abs(hues * 10 - np.round(hues * 10)) < 1e-9
    moved = np.abs(color_histogram(images, bins=10) - ours).sum(axis=1) * hues.shape[1] / 2
    assert np.all(np.round(moved) <= on_edge.sum(axis=1))
    # hue ignores brightness: a darker copy has the same histogram
    np.testing.assert_allclose(color_histogram(images // 2 * 2, bins=6), color_histogram(images // 2, bins=6))
    with pytest.raises(ValueError, match="RGB"):
        color_histogram(images[:, :2])


def test_hog_with_linear_svm_beats_raw_pixels_on_fashion_mnist(fashion_mnist):
    train_images, y_train, test_images, y_test = fashion_mnist
    train_images, y_train = train_images[:20_000], y_train[:20_000]

    def standardized(train, test):
        mean, scale = train.mean(axis=0), train.std()
        return (train - mean) / scale, (test - mean) / scale

    def svm_accuracy(train, test):
        model = LinearClassifier(
            "svm", reg=1e-4, lr=0.003, epochs=8, momentum=0.9, lr_decay=0.8, random_state=0
        )
        return model.fit(train, y_train).score(test, y_test)

    flat = lambda images: images.reshape(len(images), -1).astype(np.float32) / 255  # noqa: E731
    raw = svm_accuracy(*standardized(flat(train_images), flat(test_images)))
    features = standardized(hog(train_images, cell=4, block=2), hog(test_images, cell=4, block=2))
    with_hog = svm_accuracy(*features)
    print(f"Fashion-MNIST, linear SVM: raw pixels {raw:.4f}, HoG {with_hog:.4f}")
    assert with_hog > raw + 0.02
