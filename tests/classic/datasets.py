"""Preprocessing shared by the classic tests (the data themselves come from conftest's fixtures)."""

from __future__ import annotations

import numpy as np


def pixels(images: np.ndarray, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flattened float32 pixels in [0, 1] minus the (training) mean image, and that mean."""
    x = images.reshape(len(images), -1).astype(np.float32) / 255
    mean = x.mean(axis=0) if mean is None else mean
    return x - mean, mean
