"""Pictures of scenes: each canvas with its instance masks tinted by class, its boxes and their labels, or a
semantic map beside the canvas (the run report's "predicted masks next to the truth").

Drawn with matplotlib (the ``train`` extra) on ``ember.viz``'s figures, written all or nothing
(``save_png``). Class ``c`` has the colour ``c`` of matplotlib's 'tab10' cycle in every
picture, so a mask, its box and its label agree, and a predicted map reads against the true one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ember.atomic import atomic_file
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


def draw_scene(
    axes: Any,
    image: np.ndarray,
    target: dict[str, Any],
    classes: Sequence[str],
    truth: dict[str, Any] | None = None,
) -> None:
    """One scene on ``axes``: canvas, masks, boxes (half-open pixels) and labels (1 + class), each label
    with its score if ``target`` has ``scores`` (predictions); ``truth``'s boxes dashed white beneath."""
    from matplotlib.patches import Rectangle

    labels = np.asarray(target["labels"]).astype(np.int64)
    semantic = np.zeros(image.shape, dtype=np.int64)
    for mask, label in zip(target.get("masks", ()), labels, strict=False):  # boxes alone: no masks
        semantic[np.asarray(mask) > 0] = label
    axes.imshow(tinted(image, semantic), interpolation="nearest")
    colours = class_colours()
    # pixel i covers [i - 0.5, i + 0.5] in imshow's coordinates: a half-open box starts at x1 - 0.5
    for x1, y1, x2, y2 in np.asarray(truth["boxes"] if truth is not None else np.zeros((0, 4))):
        axes.add_patch(
            Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=1.2, ec="white", ls="--")
        )
    scores = target.get("scores")
    for k, ((x1, y1, x2, y2), label) in enumerate(zip(np.asarray(target["boxes"]), labels, strict=True)):
        colour = colours[(label - 1) % 10]
        axes.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=1.2, ec=colour))
        text = classes[label - 1] + (f" {float(scores[k]):.2f}" if scores is not None else "")
        axes.text(
            x1 - 0.5,
            y1 - 1,
            text,
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
    truths: Sequence[dict[str, Any]] | None = None,
    title: str | None = None,
) -> None:
    """A grid of scenes with their masks, boxes and labels, as a PNG; ``truths``: each scene's true boxes,
    drawn dashed white beneath (predictions against the truth); ``title`` above the grid."""
    rows = max(1, -(-len(images) // columns))
    figure = new_figure(1.9 * columns, 1.9 * rows + 0.2 + (0.4 if title else 0))
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).reshape(-1)
    for k, axes in enumerate(grid):
        if k < len(images):
            image = np.asarray(images[k]).reshape(images[k].shape[-2:])
            draw_scene(axes, image, targets[k], classes, truths[k] if truths is not None else None)
            if titles is not None:
                axes.set_title(titles[k], fontsize=8)
        else:
            axes.set_axis_off()
    if title:
        figure.suptitle(title, fontsize=11)
    save_png(figure, path)


def save_segmentation_grid(
    path: str | os.PathLike[str],
    images: np.ndarray,
    truth: np.ndarray | None,
    predicted: np.ndarray,
    count: int = 8,
    titles: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
) -> None:
    """Rows of (canvas, true semantic map, predicted map) for the first ``count`` scenes, as a PNG
    (without the truth row if ``truth`` is None); ``titles`` above the columns; ``classes`` (the object
    classes, without the background) adds a legend of the colours."""
    count = min(count, len(images))
    rows = [("image", None), *([("truth", truth)] if truth is not None else []), ("predicted", predicted)]
    figure = new_figure(max(2 * count, 6), 2.1 * len(rows) + (0.7 if classes else 0))
    grid = figure.subplots(len(rows), count, squeeze=False)
    for k in range(count):
        image = np.asarray(images[k]).reshape(images[k].shape[-2:])
        for row, (name, maps) in enumerate(rows):
            axes = grid[row, k]
            semantic = np.zeros(image.shape, np.int64) if maps is None else np.asarray(maps[k], np.int64)
            axes.imshow(tinted(image, semantic), interpolation="nearest")
            axes.set_axis_off()
            if k == 0:  # the row's name, left of it
                axes.text(-0.06, 0.5, name, transform=axes.transAxes, rotation=90, ha="right", va="center")
            if row == 0 and titles is not None:
                axes.set_title(titles[k], fontsize=8)
    if classes:
        from matplotlib.patches import Patch

        colours = class_colours()
        handles = [Patch(color=colours[c % 10], label=name) for c, name in enumerate(classes)]
        across = len(handles) if count >= 6 else -(-len(handles) // 2)  # a narrow picture: two rows
        figure.legend(handles=handles, loc="outside lower center", ncol=across, fontsize=8)
    save_png(figure, path)


def save_mask(path: str | os.PathLike[str], semantic: np.ndarray) -> Path:
    """A semantic map as a greyscale PNG whose grey levels are the class indices (0 the background), the
    machine-readable mask: ``np.asarray(PIL.Image.open(path))`` gives the map back. Written all or nothing."""
    from PIL import Image

    with atomic_file(path) as handle:
        Image.fromarray(np.asarray(semantic, dtype=np.uint8), "L").save(handle, format="PNG")
    return Path(path)
