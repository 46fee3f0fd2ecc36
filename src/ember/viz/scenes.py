"""Pictures of scenes: each canvas with its instance masks tinted by class, its boxes and their labels, or a
semantic map beside the canvas (the run report's "predicted masks next to the truth").

Drawn with matplotlib (the ``train`` extra) on ``ember.viz``'s figures, written all or nothing
(``save_png``). Class ``c`` has the colour ``c`` of matplotlib's 'tab10' cycle in every
picture, so a mask, its box and its label agree, and a predicted map reads against the true one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.viz.style import new_figure, save_png

ALPHA = 0.45


def class_colours(count: int = 10) -> np.ndarray:
    """(count, 3) RGB colours in [0, 1]: class c gets tab10's colour c."""
    from matplotlib import colormaps

    return np.asarray(colormaps["tab10"](np.arange(count) % 10))[:, :3]


def tinted(image: np.ndarray, semantic: np.ndarray) -> np.ndarray:
    """A grey canvas (H, W) as RGB with each pixel of class c (semantic value 1 + c) tinted by c's colour."""
    rgb = np.repeat(np.clip(image, 0, 1)[..., None], 3, axis=-1)
    colours = class_colours()
    owned = semantic > 0
    rgb[owned] = (1 - ALPHA) * rgb[owned] + ALPHA * colours[(semantic[owned] - 1) % 10]
    return rgb


def draw_scene(axes: Any, image: np.ndarray, target: dict[str, Any], classes: Sequence[str]) -> None:
    """One scene on ``axes``: canvas, masks, boxes (half-open pixels) and labels (1 + class)."""
    from matplotlib.patches import Rectangle

    labels = np.asarray(target["labels"]).astype(np.int64)
    semantic = np.zeros(image.shape, dtype=np.int64)
    for mask, label in zip(target.get("masks", ()), labels, strict=False):  # boxes alone: no masks
        semantic[np.asarray(mask) > 0] = label
    axes.imshow(tinted(image, semantic), interpolation="nearest")
    colours = class_colours()
    for (x1, y1, x2, y2), label in zip(np.asarray(target["boxes"]), labels, strict=True):
        colour = colours[(label - 1) % 10]
        # pixel i covers [i - 0.5, i + 0.5] in imshow's coordinates: a half-open box starts at x1 - 0.5
        axes.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=1.2, ec=colour))
        axes.text(
            x1 - 0.5,
            y1 - 1,
            classes[label - 1],
            color="white",
            fontsize=7,
            va="bottom",
            bbox={"facecolor": colour, "pad": 0.5, "lw": 0},
        )
    axes.set_axis_off()


def save_scene_grid(
    path: str | os.PathLike[str],
    images: Sequence[np.ndarray],
    targets: Sequence[dict[str, Any]],
    classes: Sequence[str],
    columns: int = 8,
    titles: Sequence[str] | None = None,
) -> None:
    """A grid of scenes with their masks, boxes and labels, as a PNG."""
    rows = max(1, -(-len(images) // columns))
    figure = new_figure(1.9 * columns, 1.9 * rows + 0.2)
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).reshape(-1)
    for k, axes in enumerate(grid):
        if k < len(images):
            draw_scene(axes, np.asarray(images[k]).reshape(images[k].shape[-2:]), targets[k], classes)
            if titles is not None:
                axes.set_title(titles[k], fontsize=8)
        else:
            axes.set_axis_off()
    save_png(figure, path)


def save_segmentation_grid(
    path: str | os.PathLike[str],
    images: np.ndarray,
    truth: np.ndarray,
    predicted: np.ndarray,
    count: int = 8,
) -> None:
    """Rows of (canvas, true semantic map, predicted map) for the first ``count`` scenes, as a PNG."""
    count = min(count, len(images))
    figure = new_figure(2 * count, 6.3)
    grid = figure.subplots(3, count, squeeze=False)
    for k in range(count):
        image = np.asarray(images[k]).reshape(images[k].shape[-2:])
        for row, (name, semantic) in enumerate(
            (("image", None), ("truth", truth[k]), ("predicted", predicted[k]))
        ):
            axes = grid[row, k]
            axes.imshow(
                tinted(image, np.zeros(image.shape, np.int64) if semantic is None else semantic),
                interpolation="nearest",
            )
            axes.set_axis_off()
            if k == 0:
                axes.set_title(name, fontsize=9, loc="left")
    save_png(figure, path)
