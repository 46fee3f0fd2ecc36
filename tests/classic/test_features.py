"""Hand-made features: HoG against scikit-image, hue histogram against matplotlib, HoG on Fashion-MNIST."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv
from skimage import data as skimage_data
from skimage.feature import hog as skimage_hog

from ember.classic import LinearClassifier, color_histogram, hog, rgb_to_hue
from ember.classic.features import orientation_bins

# Tolerance of the HoG comparison. scikit-image sums each cell's histogram in a C float (float32) accumulator;
# Ember sums in float64 (bincount) and, for uint8 and float32 images, normalizes in float32. The features are
# at most 1 (normalized blocks), and the differences stay near float32 rounding.
HOG_ATOL = 1e-6
HOG_RTOL = 1e-5
# A gradient whose orientation lies this close to a bin edge (in degrees) may fall on either side of it,
# depending on how arctan2 rounds on the processor at hand (AVX2 and AVX-512 differ in the last bits).
# scikit-image also stores its edges as float32 (180 * k / bins rounded, up to 8e-6 degrees off).
TIE_DEGREES = 1e-6


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


def gradients(images):
    """Centred differences in float64, zero on the border, as scikit-image computes them; (..., H, W)."""
    x = np.asarray(images, dtype=np.float64)
    g_row, g_col = np.zeros_like(x), np.zeros_like(x)
    g_row[..., 1:-1, :] = x[..., 2:, :] - x[..., :-2, :]
    g_col[..., :, 1:-1] = x[..., :, 2:] - x[..., :, :-2]
    return g_row, g_col


def tied_cells(images, cell, bins, channel_axis=None):
    """(N, cell rows, cell columns): True for the cells with a pixel whose bin is decided by rounding.

    That is a gradient within TIE_DEGREES of a bin edge (exact, or scikit-image's float32 copy), or, in
    colour, a pixel whose two strongest channels are equally strong to 1e-9 and vote into different bins.
    """
    if channel_axis is not None:
        images = np.moveaxis(images, channel_axis, 1)  # (N, C, H, W): gradients along the last two axes
    g_row, g_col = gradients(images)
    magnitude = np.hypot(g_row, g_col)
    angle = np.degrees(np.arctan2(g_row, g_col)) % 180
    edges = np.arange(1, bins) * (180 / bins)
    low = np.minimum(edges, edges.astype(np.float32)) - TIE_DEGREES
    high = np.maximum(edges, edges.astype(np.float32)) + TIE_DEGREES
    tied = ((angle[..., None] >= low) & (angle[..., None] <= high)).any(axis=-1)
    tied |= (angle > 180 - TIE_DEGREES) | ((angle > 0) & (angle < TIE_DEGREES))
    tied &= magnitude > 0
    if channel_axis is not None:  # the strongest channel decides, unless another one is as strong
        order = np.argsort(-magnitude, axis=1, kind="stable")[:, :2]
        strength, angle, tied = (np.take_along_axis(a, order, axis=1) for a in (magnitude, angle, tied))
        bin_of = np.floor(angle / (180 / bins))
        close = strength[:, 1] >= strength[:, 0] * (1 - 1e-9)
        tied = tied[:, 0] | close & (bin_of[:, 0] != bin_of[:, 1])
    n, height, width = tied.shape
    rows, cols = height // cell, width // cell
    return tied[:, : rows * cell, : cols * cell].reshape(n, rows, cell, cols, cell).any(axis=(2, 4))


def assert_equal_where_untied(ours, expected, tied, block):
    """Compare the features of every block without a tied cell; returns how many blocks were compared."""
    untied = ~np.lib.stride_tricks.sliding_window_view(tied, (block, block), axis=(1, 2)).any(axis=(3, 4))
    n, block_rows, block_cols = untied.shape
    ours, expected = (f.reshape(n, block_rows, block_cols, -1) for f in (ours, expected))
    np.testing.assert_allclose(ours[untied], expected[untied], rtol=HOG_RTOL, atol=HOG_ATOL)
    return int(untied.sum())


def without_ties(images):
    """Integer images of the same content in which no gradient can lie on a 45-degree multiple.

    Each pixel becomes 2 * (value // 2) + p(column), with p = 0, 0, 1, 1, 0, 0, 1, 1, ...: every column
    gradient inside the image is odd (so never 0) and every row gradient even, so |g_row| != |g_col|. The
    first and last columns are made constant, so their row gradient, next to the zero column gradient of
    the border, is 0 too.
    """
    u = images // 2
    u[..., :, 0] = u[..., :1, 0]
    u[..., :, -1] = u[..., :1, -1]
    parity = (np.arange(images.shape[-1]) // 2) % 2
    return (2 * u + parity).astype(np.uint8)


@pytest.mark.parametrize("block_norm", ["L1", "L1-sqrt", "L2", "L2-Hys"])
@pytest.mark.parametrize(("cell", "bins", "block"), [(8, 9, 3), (4, 9, 2), (7, 6, 2), (6, 12, 1)])
def test_hog_equals_skimage_where_no_gradient_is_on_a_bin_edge(mnist, block_norm, cell, bins, block):
    # On a bin edge the bin depends on how an angle is rounded, by scikit-image or by a processor's arctan2
    # (the ties are tested by hand below); everywhere else the two must agree. MNIST and noise as they
    # are (blocks with a tie are skipped), then the same images made free of ties (all blocks compared).
    images = mnist[0][:20]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (4, 30, 37), dtype=np.uint8)  # not a multiple of the cell: edges are cut
    for batch, free in (
        (images, False),
        (noise, False),
        (without_ties(images), True),
        (without_ties(noise), True),
    ):
        tied = tied_cells(batch, cell, bins)
        assert not (free and tied.any())
        expected = skimage_features(batch.astype(np.float64), cell, bins, block, block_norm)
        for dtype in (np.uint8, np.float32, np.float64):
            ours = hog(batch.astype(dtype), cell=cell, bins=bins, block=block, block_norm=block_norm)
            assert ours.dtype == (np.float64 if dtype == np.float64 else np.float32)
            assert_equal_where_untied(ours, expected, tied, block)


def test_hog_equals_skimage_on_photographs():
    camera = skimage_data.camera()[::2, ::2][None]  # 256 x 256 grey, uint8: 31 x 31 blocks
    expected = skimage_features(camera, 8, 9, 2, "L2-Hys")
    assert assert_equal_where_untied(hog(camera), expected, tied_cells(camera, 8, 9), 2) > 900
    # 128 x 128 x 3 colour, float64 in [0, 1]: 15 x 15 blocks. Channels often have gradients of the same
    # strength in different directions (as (-8, -3) and (-8, 3)); which one wins is then decided by
    # rounding. Scaled apart, the channels never tie.
    astronaut = skimage_data.astronaut()[::4, ::4] / 255.0
    for image, free in ((astronaut, False), (astronaut * [1.0, 0.93, 0.87], True)):
        ours = hog(image.transpose(2, 0, 1)[None], cell=8, bins=9, block=2)  # NCHW
        expected = skimage_features(image[None], 8, 9, 2, "L2-Hys", channel_axis=-1)
        tied = tied_cells(image[None], 8, 9, channel_axis=-1)
        assert not (free and tied.any())
        assert assert_equal_where_untied(ours, expected, tied, 2) >= (225 if free else 80)


def ramp(a, b, size=8):
    """A uint8 image 100 + a * row + b * column: every inner gradient is (g_row, g_col) = (2a, 2b)."""
    rows, cols = np.mgrid[:size, :size]
    return (100 + a * rows + b * cols).astype(np.uint8)


@pytest.mark.parametrize(
    ("a", "b", "bins", "inner_bin"),
    [
        (1, 1, 12, 3),  # 45 degrees: the edge between bins 2 and 3 goes to the upper bin
        (-1, -1, 12, 3),  # 225 degrees, unsigned 45
        (1, -1, 12, 9),  # 135 degrees
        (-1, 1, 12, 9),  # -45 degrees, unsigned 135
        (3, 0, 12, 6),  # 90 degrees
        (0, -2, 12, 0),  # 180 degrees, unsigned 0
        (2, 2, 4, 1),
        (1, 1, 8, 2),  # 45 = 2 * 22.5
        (3, -3, 8, 6),  # 135 = 6 * 22.5
        (5, 0, 6, 3),  # 90 = 3 * 30
        (1, 1, 9, 2),  # no tie: 45 lies inside [40, 60)
    ],
)
def test_hog_puts_a_gradient_on_a_bin_edge_into_the_upper_bin(a, b, bins, inner_bin):
    # One 8 x 8 cell, L1 norm: the features are the cell's histogram over its sum. The 36 inner pixels have
    # gradient (2a, 2b); the 12 non-corner pixels of the top and bottom rows (0, 2b), at 0 or 180 degrees:
    # bin 0; the 12 of the left and right columns (2a, 0), at 90 degrees: bin bins // 2; corners none.
    histogram = np.zeros(bins)
    histogram[inner_bin] += 36 * 2 * np.hypot(a, b)
    histogram[0] += 12 * 2 * abs(b)
    histogram[bins // 2] += 12 * 2 * abs(a)
    histogram /= 64
    expected = histogram / (histogram.sum() + 1e-5)
    for dtype in (np.uint8, np.float32, np.float64):
        image = ramp(a, b).astype(dtype)[None]
        np.testing.assert_allclose(hog(image, cell=8, bins=bins, block=1, block_norm="L1")[0], expected, 1e-6)


def test_orientation_bins_at_and_next_to_every_45_degree_edge():
    # (g_row, g_col) on the edges of 12 bins at 0, 45, 90, 135, 180, ... degrees, any scale, and one unit
    # in the last place to either side of each.
    steps = [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)]
    on_edge = [0, 3, 6, 9, 0, 3, 6, 9]
    for scale in (1.0, 7.0, 0.1, 1e-300, 1e300):
        g_row, g_col = (np.array(g, dtype=np.float64) * scale for g in zip(*steps, strict=True))
        np.testing.assert_array_equal(orientation_bins(g_row, g_col, 12), on_edge)
        np.testing.assert_array_equal(orientation_bins(g_row, g_col, 4), np.array(on_edge) // 3)
    ulp = 2.0**-52
    # just below 45 degrees: bin 2; just above: bin 3; just below 90: bin 5; just past 90: bin 6
    g_row = np.array([1.0, 1.0 + ulp, 1.0, 1.0])
    g_col = np.array([1.0 + ulp, 1.0, 1e-300, -1e-300])
    np.testing.assert_array_equal(orientation_bins(g_row, g_col, 12), [2, 3, 5, 6])
    # just below 180 (last bin) and just past it (bin 0 again)
    np.testing.assert_array_equal(
        orientation_bins(np.array([1e-300, -1e-300]), np.array([-1.0, -1.0]), 12), [11, 0]
    )


def test_colour_hog_takes_the_first_of_equally_strong_channels():
    red, green = ramp(3, 4), ramp(5, 0)  # inner gradients (6, 8) and (10, 0): both of magnitude 10
    first = hog(np.stack([red, green, green])[None], cell=8, bins=9, block=1, block_norm="L1")
    second = hog(np.stack([green, red, red])[None], cell=8, bins=9, block=1, block_norm="L1")
    assert first.reshape(9).argmax() == 1  # red's (6, 8): 36.9 degrees, in [20, 40)
    assert second.reshape(9).argmax() == 4  # green's (10, 0): 90 degrees, in [80, 100)


@pytest.mark.parametrize("direction", [-np.inf, np.inf])
def test_hog_does_not_depend_on_how_the_processor_rounds(monkeypatch, mnist, direction):
    # NumPy's SIMD code for AVX2 and AVX-512 rounds arctan2 (and other transcendental functions) differently
    # in the last bits. Moving each of their results by one unit in the last place must change nothing.
    images = np.concatenate([mnist[0][:10], np.stack([ramp(1, 1, 28), ramp(1, -1, 28), ramp(2, 0, 28)])])
    expected = {
        dtype: hog(images.astype(dtype), cell=6, bins=12, block=1) for dtype in (np.uint8, np.float64)
    }
    for name in ("arctan2", "arctan", "hypot", "rad2deg", "degrees", "sin", "cos", "tan"):
        original = getattr(np, name)
        monkeypatch.setattr(np, name, lambda *args, f=original: np.nextafter(f(*args), direction))
    for dtype, features in expected.items():
        np.testing.assert_array_equal(hog(images.astype(dtype), cell=6, bins=12, block=1), features)


def test_hog_gives_the_same_features_on_numpys_avx2_and_avx512_code(tmp_path):
    # NumPy picks its SIMD code when it starts; NPY_DISABLE_CPU_FEATURES makes a child process take the AVX2
    # code (on an AVX2 machine both processes take it). Integer noise has gradients on 45 and 90 degrees.
    images = np.random.default_rng(0).integers(0, 256, (8, 30, 30), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    script = (
        "import sys, numpy as np; from ember.classic import hog; x = np.load(sys.argv[1]); "
        "f = [hog(x.astype(t), cell=6, bins=12, block=1) for t in (np.uint8, float)]; "
        "np.save(sys.argv[2], np.stack(f))"
    )
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2] / "src"), env.get("PYTHONPATH", "")]
    )
    out = tmp_path / "features.npy"
    subprocess.run(
        [sys.executable, "-c", script, tmp_path / "images.npy", out], env=env, check=True, timeout=120
    )
    here = np.stack([hog(images.astype(t), cell=6, bins=12, block=1) for t in (np.uint8, float)])
    np.testing.assert_array_equal(np.load(out), here)


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
    for name in ("cell", "bins", "block"):
        with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
            hog(images, **{name: 0})
    broken = images.astype(np.float32)
    broken[1, 5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hog(broken)


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
    # The same linear SVM, with its defaults (it standardizes what it is given): 0.8398 on raw pixels, 0.8671
    # on HoG features.
    train_images, y_train, test_images, y_test = fashion_mnist
    train_images, y_train = train_images[:20_000], y_train[:20_000]

    def svm_accuracy(train, test):
        return LinearClassifier("svm", random_state=0).fit(train, y_train).score(test, y_test)

    raw = svm_accuracy(train_images, test_images)
    with_hog = svm_accuracy(hog(train_images, cell=4, block=2), hog(test_images, cell=4, block=2))
    print(f"Fashion-MNIST, linear SVM: raw pixels {raw:.4f}, HoG {with_hog:.4f}")
    assert with_hog > raw + 0.02
