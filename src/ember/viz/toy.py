"""Two-class data sets in the plane, for the playground and the regularization lab (the lectures' ConvNetJS
"classify2d" demo): points in [-1, 1]^2 with labels 0 and 1, drawn from a seeded generator."""

from __future__ import annotations

import numpy as np

DATASETS = ("spiral", "circles", "xor", "blobs")


def make_points(
    name: str, count: int = 200, noise: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(points (count, 2) float32, labels (count,) int64) of data set ``name`` (one of ``DATASETS``)."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set '{name}'; choose one of {', '.join(DATASETS)}")
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    if name == "spiral":  # two interleaved arms, one and a half turns each
        radius = rng.uniform(0.08, 1.0, count)
        angle = 3 * np.pi * radius + np.pi * labels
        points = 0.9 * radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    elif name == "circles":  # a disc inside a ring
        radius = np.where(labels == 0, rng.uniform(0, 0.4, count), rng.uniform(0.6, 0.9, count))
        angle = rng.uniform(0, 2 * np.pi, count)
        points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    elif name == "xor":  # the class is the sign of x * y
        points = rng.uniform(-0.9, 0.9, (count, 2))
        points += 0.1 * np.sign(points)
        labels = (points[:, 0] * points[:, 1] < 0).astype(np.int64)
    else:  # two Gaussian blobs
        points = rng.normal(0, 0.22, (count, 2)) + np.where(labels[:, None] == 0, -0.4, 0.4)
    points = points + rng.normal(0, noise * 0.3, points.shape)
    return np.clip(points, -1, 1).astype(np.float32), labels.astype(np.int64)


def grid(resolution: int) -> np.ndarray:
    """(resolution**2, 2) points of a regular grid over [-1, 1]^2, row by row from the top (y = 1)."""
    axis = np.linspace(-1, 1, resolution, dtype=np.float32)
    ys, xs = np.meshgrid(axis[::-1], axis, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], 1)


def roughness(probabilities: np.ndarray) -> float:
    """How fast the class-1 probability changes across the plane: the mean absolute difference between
    neighbouring cells of a square grid (a smoother boundary gives a smaller number)."""
    field = np.asarray(probabilities, dtype=np.float64)
    return float((np.abs(np.diff(field, axis=0)).mean() + np.abs(np.diff(field, axis=1)).mean()) / 2)
