"""Hand-made image features: a hue histogram and the histogram of oriented gradients (HoG).

Before features were learned, a linear classifier was trained on features designed by hand; the lectures
contrast the two. Both functions here take a whole batch and work on it at once (no loop over images):

- ``color_histogram``: the distribution of hue (the colour's angle on the colour wheel), a feature blind to
  where things are in the image and to their brightness.
- ``hog`` (Dalal and Triggs, "Histograms of Oriented Gradients for Human Detection", CVPR 2005): image
  gradients; in each cell of ``cell x cell`` pixels, a histogram of gradient orientations (unsigned, 0-180
  degrees) weighted by gradient magnitude; then every ``block x block`` group of cells normalized together,
  which makes the feature robust to local contrast. It follows scikit-image's ``skimage.feature.hog`` exactly
  (centred differences with zero borders; for colour, the channel with the strongest gradient at each pixel,
  the first of equally strong ones; each pixel votes into one orientation bin, without the paper's bilinear
  interpolation and Gaussian window; cell histograms divided by the cell's area; blocks overlapping with a
  stride of one cell; the same four block normalizations), so that the two can be compared number for
  number wherever no gradient lies on a bin edge.

Bin k of ``bins`` holds the orientations in [180 k / bins, 180 (k + 1) / bins) degrees: a gradient exactly on
an edge goes to the upper bin (scikit-image's half-open ranges). The bin is decided by sign tests on the
gradient itself, not by rounding an angle: ``arctan2`` is rounded differently by the SIMD code of different
processors (AVX2, AVX-512), and integer-valued images put many gradients exactly on the edges at 45, 90 and
135 degrees, so an angle-based bin would depend on the machine. Those edges (the only angles with a rational
tangent, by Niven's theorem, so the only ones a gradient can lie on exactly) are tested in exact arithmetic;
the others by float64 products, which every processor rounds alike.

Images are ``(N, H, W)`` for grey or ``(N, C, H, W)`` for colour (Ember's NCHW layout), uint8 or float.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Any

import numpy as np

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
# pi in fixed point with 80 decimals, for the bin edges' cos and sin (_cos_sin)
_ONE = 10**80
_PI = 314159265358979323846264338327950288419716939937510582097494459230781640628620899  # floor(pi * _ONE)
_CHUNK_PIXELS = 2**22  # pixels per chunk in hog: bounds its float64 gradient and index arrays (32 MB each)


def color_histogram(images: Any, bins: int = 10) -> np.ndarray:
    """Hue histogram of each RGB image: ``(N, bins)`` float32, each row the fraction of pixels per hue bin.

    ``images`` is ``(N, 3, H, W)``. Hue is in [0, 1) as in ``matplotlib.colors.rgb_to_hsv`` (0 red, 1/3 green,
    2/3 blue; 0 for grey pixels, whose hue is undefined); the bins split [0, 1) evenly.
    """
    rgb = _float_images(images, "color_histogram")
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"color_histogram: expected RGB images (N, 3, H, W), got shape {rgb.shape}")
    n = len(rgb)
    # float64 hue: a pixel exactly on a bin edge (hue 0.1 from channel differences 3/5) lands where
    # matplotlib's float64 formula puts it, not on either side by float32 rounding.
    hue = rgb_to_hue(rgb.astype(np.float64)).reshape(n, -1)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.searchsorted(edges, hue, side="right") - 1, 0, bins - 1)
    counts = np.bincount((index + bins * np.arange(n)[:, None]).ravel(), minlength=n * bins)
    return (counts.reshape(n, bins) / hue.shape[1]).astype(np.float32)


def rgb_to_hue(rgb: np.ndarray) -> np.ndarray:
    """Hue in [0, 1) of NCHW RGB images, ``(N, H, W)``: the HSV hexcone formula, as matplotlib computes it."""
    red, green, blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    value = rgb.max(axis=1)
    delta = value - rgb.min(axis=1)
    safe = np.where(delta > 0, delta, 1)
    # Where two channels tie for the maximum, the later branch wins (blue over green over red), as matplotlib.
    hue = np.select(
        [blue == value, green == value],
        [4 + (red - green) / safe, 2 + (blue - red) / safe],
        (green - blue) / safe,
    )
    hue = np.where(delta > 0, hue, 0)
    return (hue / 6) % 1


def hog(images: Any, cell: int = 8, bins: int = 9, block: int = 2, block_norm: str = "L2-Hys") -> np.ndarray:
    """Histogram of oriented gradients of each image, ``(N, F)``.

    ``cell`` pixels per cell side, ``bins`` orientation bins over 0-180 degrees, ``block`` cells per block
    side, ``block_norm`` one of ``'L1'``, ``'L1-sqrt'``, ``'L2'``, ``'L2-Hys'`` (L2, clipped at 0.2, L2
    again: the paper's choice). Rows and columns beyond the last whole cell are ignored. Each feature vector
    is ordered (block row, block column, cell row in block, cell column in block, orientation), as
    ``skimage.feature.hog(image, bins, (cell, cell), (block, block), block_norm)``; F is
    (H // cell - block + 1) * (W // cell - block + 1) * block^2 * bins. float64 images give float64
    features; anything else gives float32.
    """
    for name, value in (("cell", cell), ("bins", bins), ("block", block)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"hog: {name} must be a positive integer, got {value!r}")
    if block_norm not in BLOCK_NORMS:
        raise ValueError(f"hog: block_norm must be one of {BLOCK_NORMS}, got {block_norm!r}")
    x = _float_images(images, "hog")
    if x.ndim not in (3, 4):
        raise ValueError(f"hog: expected images (N, H, W) or (N, C, H, W), got shape {x.shape}")
    height, width = x.shape[-2:]
    cells = (height // cell, width // cell)
    if cells[0] < block or cells[1] < block:
        raise ValueError(
            f"hog: images of {height}x{width} pixels are too small for blocks of {block}x{block} cells of "
            f"{cell}x{cell} pixels (at least {block * cell}x{block * cell} needed)"
        )
    per_chunk = max(1, _CHUNK_PIXELS // (height * width * (x.shape[1] if x.ndim == 4 else 1)))
    histograms = np.concatenate(
        [_cell_histograms(x[i : i + per_chunk], cell, bins, cells) for i in range(0, len(x), per_chunk)]
    )
    return _normalize_blocks(histograms, block, block_norm).reshape(len(x), -1)


def _cell_histograms(x: np.ndarray, cell: int, bins: int, cells: tuple[int, int]) -> np.ndarray:
    """(N, cell rows, cell columns, bins): per cell, the gradient magnitude summed per orientation bin."""
    rows, cols = cells[0] * cell, cells[1] * cell
    g_row, g_col = (g.astype(np.float64) for g in _gradients(x))  # float32 values are exact in float64
    squared = g_row * g_row + g_col * g_col
    if x.ndim == 4:  # colour: at each pixel, the channel whose gradient is strongest (the first among equals)
        strongest = squared.argmax(axis=1)[:, None]
        g_row, g_col, squared = (
            np.take_along_axis(g, strongest, axis=1)[:, 0] for g in (g_row, g_col, squared)
        )
    g_row, g_col, squared = (g[:, :rows, :cols] for g in (g_row, g_col, squared))
    # One bincount fills every histogram of the batch: pixel -> (image, cell row, cell column, bin).
    cell_of_pixel = (np.arange(rows)[:, None] // cell) * cells[1] + np.arange(cols)[None, :] // cell
    n = len(x)
    slot = (np.arange(n)[:, None, None] * (cells[0] * cells[1]) + cell_of_pixel) * bins
    slot += orientation_bins(g_row, g_col, bins)
    sums = np.bincount(
        slot.ravel(), weights=np.sqrt(squared).ravel(), minlength=n * cells[0] * cells[1] * bins
    )
    return (sums / (cell * cell)).astype(x.dtype).reshape(n, cells[0], cells[1], bins)


def orientation_bins(g_row: np.ndarray, g_col: np.ndarray, bins: int) -> np.ndarray:
    """The unsigned orientation bin (0 .. bins - 1) of each gradient ``(g_row, g_col)``, as ``np.intp``.

    The orientation is the angle of (g_col, g_row) folded into [0, 180) degrees; bin k holds [180 k / bins,
    180 (k + 1) / bins), so an orientation exactly on an edge goes to the upper bin, and 0 and 180 degrees
    are both 0. A gradient is at or past edge k when the cross product of the edge's direction with the
    gradient, folded into the upper half-plane, is not negative: no angle is computed, so nothing depends on
    how a processor rounds ``arctan2``. Zero gradients go to bin 0.
    """
    flip = (g_row < 0) | ((g_row == 0) & (g_col < 0))  # v and -v have the same unsigned orientation
    y = np.where(flip, -g_row, g_row)
    x = np.where(flip, -g_col, g_col)
    index = np.zeros(y.shape, dtype=np.intp)
    for cos, sin in _edge_directions(bins):
        index += cos * y >= sin * x  # sin(angle - edge) >= 0, the angle being in [0, 180)
    return index


@functools.cache
def _edge_directions(bins: int) -> list[tuple[float, float]]:
    """A direction (cos, sin) of each inner bin edge, 180 k / bins degrees for k = 1 .. bins - 1.

    Edges at multiples of 45 degrees get exact directions, (1, 1), (0, 1) or (-1, 1): a gradient on one of
    them ties exactly and goes to the upper bin on every machine. No gradient lies exactly on another edge
    (its tangent is irrational); their cos and sin come from exact rational arithmetic, not from the C
    library (whose last bit may depend on the processor), so every machine tests against the same numbers.
    """
    exact = {1: (1.0, 1.0), 2: (0.0, 1.0), 3: (-1.0, 1.0)}  # 45, 90, 135 degrees
    directions = []
    for k in range(1, bins):
        multiple, remainder = divmod(4 * k, bins)  # the edge is at 45 * (4k / bins) degrees
        directions.append(exact[multiple] if remainder == 0 else _cos_sin(k, bins))
    return directions


def _cos_sin(k: int, bins: int) -> tuple[float, float]:
    """cos and sin of pi k / bins (k < bins) by their Taylor series in integer fixed-point arithmetic."""
    angle = _PI * k // bins
    cos = sin = 0
    term = _ONE
    for n in range(60):  # pi^60 / 60! < 1e-51: far below float64's resolution
        if n % 2 == 0:
            cos += term if n % 4 == 0 else -term
        else:
            sin += term if n % 4 == 1 else -term
        term = term * angle // (_ONE * (n + 1))
    return float(Fraction(cos, _ONE)), float(Fraction(sin, _ONE))


def _gradients(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred differences [-1, 0, 1] along rows and columns, zero on the image border (no smoothing)."""
    g_row = np.zeros_like(x)
    g_col = np.zeros_like(x)
    g_row[..., 1:-1, :] = x[..., 2:, :] - x[..., :-2, :]
    g_col[..., :, 1:-1] = x[..., :, 2:] - x[..., :, :-2]
    return g_row, g_col


def _normalize_blocks(histograms: np.ndarray, block: int, method: str, eps: float = 1e-5) -> np.ndarray:
    """(N, block rows, block columns, block, block, bins): each overlapping block normalized on its own."""
    windows = np.lib.stride_tricks.sliding_window_view(histograms, (block, block), axis=(1, 2))
    blocks = windows.transpose(0, 1, 2, 4, 5, 3)  # (..., bins, block, block) -> (..., block, block, bins)
    axes = (3, 4, 5)
    if method in ("L1", "L1-sqrt"):
        out = blocks / (np.abs(blocks).sum(axis=axes, keepdims=True) + eps)
        return np.sqrt(out) if method == "L1-sqrt" else out
    out = blocks / np.sqrt((blocks * blocks).sum(axis=axes, keepdims=True) + eps**2)
    if method == "L2-Hys":
        out = np.minimum(out, 0.2)
        out /= np.sqrt((out * out).sum(axis=axes, keepdims=True) + eps**2)
    return out


def _float_images(images: Any, owner: str) -> np.ndarray:
    array = np.asarray(images)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: images must hold numbers, got dtype {array.dtype}")
    array = array if array.dtype == np.float64 else array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"{owner}: images contain NaN or infinity; replace them (np.nan_to_num) first")
    return array
