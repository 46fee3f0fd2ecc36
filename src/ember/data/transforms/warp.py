"""Augmentation that resamples the image: resized crops, ResNet's scale augmentation, rotation, affine, lens.

The lectures' list after flips and crops: "random crops and scales" (ResNet: pick L in [256, 480], resize the
short side to L, sample a 224 x 224 patch), then "translation, rotation, stretching, shearing, lens
distortions". Each is a map from output pixel to input position. Here each transform computes that map for
every sample of the batch at once (an N x h x w grid of source coordinates, a different random draw per
sample), and SciPy's ``ndimage.map_coordinates`` interpolates the whole batch in one call: the batch and
channel axes are sampled at integer positions only, so samples never mix. Interpolation is nearest or bilinear
(torchvision's choices for tensors); positions outside the image take ``fill`` (rotation, affine, lens) or the
nearest edge pixel (resizing crops, as ``torch.nn.functional.interpolate``). Coordinates follow torchvision:
pixel centres at integers, the image centre at ((W - 1) / 2, (H - 1) / 2), positive angles counter-clockwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ember.data.optional import require
from ember.data.transforms.base import RandomTransform, pair, value_range
from ember.data.transforms.geometric import InterpolationMode, sample_boxes
from ember.random import Generator

ORDERS = {InterpolationMode.NEAREST: 0, InterpolationMode.BILINEAR: 1}


def _order(interpolation: InterpolationMode | str) -> int:
    mode = InterpolationMode(interpolation)
    if mode not in ORDERS:
        raise ValueError(f"interpolation must be nearest or bilinear for a batch warp, got {mode.value}")
    return ORDERS[mode]


def sample_grid(
    x: np.ndarray, rows: np.ndarray, cols: np.ndarray, order: int = 1, fill: float | None = 0.0
) -> np.ndarray:
    """Resample an N x C x H x W batch at per-sample source positions ``rows``, ``cols`` (each N x h x w).

    ``fill=None`` extends the edge pixels outward; a number fills everything outside the image.
    """
    ndimage = require("scipy.ndimage", "interpolating augmentations")
    n, c = x.shape[:2]
    height, width = rows.shape[1:]
    planes = np.ascontiguousarray(x, dtype=np.float32).reshape(n * c, *x.shape[2:])
    coords = np.empty((3, n * c, height, width), dtype=np.float32)
    coords[0] = np.arange(n * c, dtype=np.float32).reshape(-1, 1, 1)
    coords[1] = np.repeat(rows, c, axis=0)
    coords[2] = np.repeat(cols, c, axis=0)
    mode, cval = ("nearest", 0.0) if fill is None else ("grid-constant", float(fill))
    out = ndimage.map_coordinates(planes, coords, output=np.float32, order=order, mode=mode, cval=cval)
    out = out.reshape(n, c, height, width)
    if x.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(x.dtype, copy=False)


def _output_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    return rows[None], cols[None]


def resize_boxes(
    x: np.ndarray,
    top: np.ndarray,
    left: np.ndarray,
    box_h: np.ndarray,
    box_w: np.ndarray,
    size: tuple[int, int],
) -> np.ndarray:
    """Crop each sample's box and resize it to ``size`` (bilinear, half-pixel centres, edges clamped)."""
    rows, cols = _output_grid(*size)
    scale_y = (box_h / size[0]).reshape(-1, 1, 1)
    scale_x = (box_w / size[1]).reshape(-1, 1, 1)
    src_rows = top.reshape(-1, 1, 1) + (rows + 0.5) * scale_y - 0.5
    src_cols = left.reshape(-1, 1, 1) + (cols + 0.5) * scale_x - 0.5
    return sample_grid(x, src_rows, src_cols, order=1, fill=None)


class RandomResizedCrop(RandomTransform):
    """A random box of area fraction ``scale`` and aspect ``ratio``, resized to ``size`` (Inception's)."""

    def __init__(
        self,
        size: int | Sequence[int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        interpolation: InterpolationMode | str = InterpolationMode.BILINEAR,
        generator: Generator | None = None,
    ) -> None:
        super().__init__(generator)
        self.size = pair(size, "RandomResizedCrop")
        self.scale, self.ratio = scale, ratio
        if InterpolationMode(interpolation) != InterpolationMode.BILINEAR:
            raise ValueError("RandomResizedCrop: only bilinear interpolation is supported on batches")
        self.interpolation = InterpolationMode(interpolation)

    def boxes(self, n: int, height: int, width: int) -> tuple[np.ndarray, ...]:
        """torchvision's sampling: ten tries per sample, else the central crop of the nearest ratio."""
        found, top, left, box_h, box_w = sample_boxes(self.rng, n, (height, width), self.scale, self.ratio)
        in_ratio = width / height
        if in_ratio < min(self.ratio):
            fallback = (round(width / min(self.ratio)), width)
        elif in_ratio > max(self.ratio):
            fallback = (height, round(height * max(self.ratio)))
        else:
            fallback = (height, width)
        box_h = np.where(found, box_h, fallback[0])
        box_w = np.where(found, box_w, fallback[1])
        top = np.where(found, top, (height - box_h) // 2)
        left = np.where(found, left, (width - box_w) // 2)
        return top, left, box_h, box_w

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        top, left, box_h, box_w = self.boxes(len(x), x.shape[2], x.shape[3])
        return resize_boxes(x, top, left, box_h, box_w, self.size)


class RandomScaleCrop(RandomTransform):
    """ResNet's scale augmentation: resize the short side to a random L in ``short_side``, take a random crop.

    He et al. (2016), after Simonyan and Zisserman: L uniform in [256, 480], then a 224 x 224 patch. Done as
    one resampling per sample (the crop's window of the virtually resized image), so the batch stays one
    array.
    """

    def __init__(
        self,
        size: int | Sequence[int] = 224,
        short_side: tuple[int, int] = (256, 480),
        generator: Generator | None = None,
    ) -> None:
        super().__init__(generator)
        self.size = pair(size, "RandomScaleCrop")
        self.short_side = short_side
        if min(short_side) < max(self.size):
            raise ValueError(
                f"RandomScaleCrop: the short side {short_side} must be at least the crop {self.size}"
            )

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        n, height, width = len(x), x.shape[2], x.shape[3]
        short = self.rng.integers(self.short_side[0], self.short_side[1] + 1, n)
        factor = short / min(height, width)
        scaled_h, scaled_w = np.rint(height * factor), np.rint(width * factor)
        top = np.floor(self.rng.random(n) * (scaled_h - self.size[0] + 1))
        left = np.floor(self.rng.random(n) * (scaled_w - self.size[1] + 1))
        # The crop's box in the original image's coordinates: box size = crop size / factor.
        return resize_boxes(
            x, top / factor, left / factor, self.size[0] / factor, self.size[1] / factor, self.size
        )


def affine_grid(
    shape: tuple[int, int],
    matrices: np.ndarray,
    translate: np.ndarray,
    center: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Source rows and columns for output pixels under p_out = c + t + A (p_in - c), A per sample."""
    height, width = shape
    cx, cy = ((width - 1) / 2, (height - 1) / 2) if center is None else center
    inverse = np.linalg.inv(matrices)
    rows, cols = _output_grid(height, width)
    dx = cols - cx - translate[:, 0].reshape(-1, 1, 1)
    dy = rows - cy - translate[:, 1].reshape(-1, 1, 1)
    src_x = cx + inverse[:, 0, 0, None, None] * dx + inverse[:, 0, 1, None, None] * dy
    src_y = cy + inverse[:, 1, 0, None, None] * dx + inverse[:, 1, 1, None, None] * dy
    return src_y, src_x


def rotation_matrices(degrees: np.ndarray) -> np.ndarray:
    """Counter-clockwise on screen (rows grow downward), in (x, y) coordinates; exact at multiples of 90."""
    theta = np.deg2rad(degrees)
    cos, sin = np.cos(theta), np.sin(theta)
    cos = np.where(np.isclose(cos, np.rint(cos), atol=1e-12), np.rint(cos), cos)
    sin = np.where(np.isclose(sin, np.rint(sin), atol=1e-12), np.rint(sin), sin)
    return np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)


class RandomAffine(RandomTransform):
    """Random rotation, translation, scaling ("stretching") and shear about the centre (torchvision's)."""

    def __init__(
        self,
        degrees: float | Sequence[float],
        translate: tuple[float, float] | None = None,
        scale: tuple[float, float] | None = None,
        shear: float | Sequence[float] | None = None,
        interpolation: InterpolationMode | str = InterpolationMode.NEAREST,
        fill: float = 0,
        center: Sequence[float] | None = None,
        generator: Generator | None = None,
    ) -> None:
        super().__init__(generator)
        self.degrees = value_range(degrees, "degrees")
        self.translate, self.scale, self.fill, self.center = translate, scale, fill, center
        if shear is None:
            self.shear: tuple[float, ...] | None = None
        elif isinstance(shear, int | float):
            self.shear = value_range(shear, "shear")
        else:
            self.shear = tuple(float(s) for s in shear)
        self.interpolation = InterpolationMode(interpolation)
        self._order = _order(self.interpolation)

    def matrices(self, n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        matrices = rotation_matrices(rng.uniform(*self.degrees, size=n))
        if self.shear is not None:
            sx = np.tan(np.deg2rad(rng.uniform(self.shear[0], self.shear[1], size=n)))
            sy = np.zeros(n)
            if len(self.shear) == 4:
                sy = np.tan(np.deg2rad(rng.uniform(self.shear[2], self.shear[3], size=n)))
            shears = np.stack([np.stack([1 + sx * sy, sx], -1), np.stack([sy, np.ones(n)], -1)], -2)
            matrices = matrices @ shears
        if self.scale is not None:
            matrices = matrices * rng.uniform(*self.scale, size=n).reshape(-1, 1, 1)
        translate = np.zeros((n, 2))
        if self.translate is not None:
            limits = np.array([self.translate[0] * width, self.translate[1] * height])
            translate = np.rint(rng.uniform(-limits, limits, size=(n, 2)))
        return matrices, translate

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        shape = x.shape[2], x.shape[3]
        matrices, translate = self.matrices(len(x), *shape)
        rows, cols = affine_grid(shape, matrices, translate, self.center)
        return sample_grid(x, rows, cols, self._order, self.fill)


class RandomRotation(RandomAffine):
    """Rotate by an angle drawn from ``degrees`` (a number d means [-d, d]), counter-clockwise if positive."""

    def __init__(
        self,
        degrees: float | Sequence[float],
        interpolation: InterpolationMode | str = InterpolationMode.NEAREST,
        expand: bool = False,
        center: Sequence[float] | None = None,
        fill: float = 0,
        generator: Generator | None = None,
    ) -> None:
        if expand:
            raise NotImplementedError("RandomRotation: expand=True (a larger output) is not supported")
        super().__init__(degrees, interpolation=interpolation, fill=fill, center=center, generator=generator)


class RandomLensDistortion(RandomTransform):
    """Radial lens distortion: output radius r samples the input at r (1 + k r^2), k from ``distortion``.

    r is measured from the centre in units of half the shorter side. k > 0 pulls the borders in (barrel), k <
    0 pushes them out (pincushion); applied with probability ``p`` per sample.
    """

    def __init__(
        self,
        distortion: float | tuple[float, float] = 0.2,
        p: float = 0.5,
        interpolation: InterpolationMode | str = InterpolationMode.BILINEAR,
        fill: float = 0,
        generator: Generator | None = None,
    ) -> None:
        super().__init__(generator)
        self.distortion = value_range(distortion, "distortion")
        self.p, self.fill = p, fill
        self.interpolation = InterpolationMode(interpolation)
        self._order = _order(self.interpolation)

    def apply_batch(self, x: np.ndarray) -> np.ndarray:
        n, height, width = len(x), x.shape[2], x.shape[3]
        k = self.rng.uniform(*self.distortion, size=n) * self.chosen(n, self.p)
        rows, cols = _output_grid(height, width)
        cy, cx, unit = (height - 1) / 2, (width - 1) / 2, min(height, width) / 2
        v, u = (rows - cy) / unit, (cols - cx) / unit
        stretch = 1 + k.reshape(-1, 1, 1) * (u * u + v * v)
        return sample_grid(x, cy + v * stretch * unit, cx + u * stretch * unit, self._order, self.fill)
