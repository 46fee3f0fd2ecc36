"""Ember's one look for pictures: colours, figure size and resolution, atomic PNGs, image grids.

Every plot Ember draws (run reports, the doctor, ``ember viz``, the labs) starts from ``new_figure`` and
ends in ``save_png``: matplotlib's object API (no global pyplot state, no display needed), 100 dpi, a
constrained layout, and a PNG written all or nothing (``ember.atomic``). Change the look here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.atomic import atomic_file

TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#d62728"
# one colour per class or per curve (matplotlib's tab10), in a fixed order
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
TITLE_SIZE, LABEL_SIZE, TEXT_SIZE = 13, 11, 10
DPI = 100


def color(index: int) -> str:
    """The ``index``-th colour of the palette (it repeats after ten)."""
    return PALETTE[index % len(PALETTE)]


def new_figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches, not registered with pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save_png(figure: Any, path: str | os.PathLike[str]) -> None:
    """The figure as a PNG file, written all or nothing (``ember.atomic``)."""
    with atomic_file(path) as handle:
        figure.savefig(handle, format="png", dpi=DPI)


def displayable(image: np.ndarray) -> np.ndarray:
    """An image as ``imshow`` takes it: CHW or HW in, HW (one channel) or HWC (three) out, scaled to [0, 1]
    over its own range (a filter's weights or a saliency map have no fixed range)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else np.moveaxis(image[:3], 0, -1)
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def image_grid(
    figure: Any,
    images: Sequence[np.ndarray],
    captions: Sequence[str] | None = None,
    columns: int = 8,
    cmap: str = "gray",
    caption_color: str = "#222222",
) -> Any:
    """Show ``images`` (each scaled to its own range) in a grid of ``columns``; returns the axes array."""
    rows = max(1, -(-len(images) // columns))
    grid = figure.subplots(rows, columns, squeeze=False)
    for k, axes in enumerate(grid.flat):
        axes.set_axis_off()
        if k >= len(images):
            continue
        picture = displayable(images[k])
        axes.imshow(picture, cmap=cmap if picture.ndim == 2 else None, interpolation="nearest")
        if captions is not None:
            axes.set_title(captions[k], fontsize=LABEL_SIZE, color=caption_color)
    return grid
