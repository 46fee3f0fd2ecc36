"""The pictures of ``ember viz`` (the numbers come from ``ember.viz.inside`` and ``ember.viz.embedding``).

Each ``plot_*`` takes arrays and a path and writes one PNG in ``ember.viz.style``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ember.viz.style import (
    LABEL_SIZE,
    TEXT_SIZE,
    TITLE_SIZE,
    color,
    displayable,
    image_grid,
    new_figure,
    save_png,
)

Path = str | os.PathLike[str]


def plot_filters(weights: np.ndarray, path: Path, title: str, columns: int = 8) -> None:
    """Filters (or Linear rows shaped as images), each scaled to its own range, in a grid."""
    shown = weights[:64]
    columns = min(columns, len(shown))
    rows = -(-len(shown) // columns)
    figure = new_figure(1.3 * columns + 0.4, 1.3 * rows + 0.7)
    image_grid(figure, list(shown), [f"#{n}" for n in range(len(shown))], columns)
    figure.suptitle(title, fontsize=TITLE_SIZE)
    save_png(figure, path)


def plot_templates(templates: np.ndarray, classes: Sequence[str], path: Path, title: str) -> None:
    """One image per class (red: raises the class score, blue: lowers it)."""
    columns = min(5, len(templates))
    rows = -(-len(templates) // columns)
    figure = new_figure(2.3 * columns, 2.5 * rows + 0.7)
    grid = figure.subplots(rows, columns, squeeze=False)
    for n, axes in enumerate(grid.flat):
        axes.set_axis_off()
        if n < len(templates):
            picture = templates[n].mean(axis=0) if templates[n].shape[0] != 3 else displayable(templates[n])
            limit = float(np.abs(picture).max()) or 1.0
            kwargs = {} if picture.ndim == 3 else {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}
            axes.imshow(picture, interpolation="nearest", **kwargs)
            axes.set_title(classes[n], fontsize=LABEL_SIZE)
    figure.suptitle(title, fontsize=TITLE_SIZE)
    save_png(figure, path)


def plot_activations(image: np.ndarray, maps: np.ndarray, path: Path, title: str, count: int = 31) -> None:
    """The image, then one map per channel of the layer (the first ``count``), each on its own scale."""
    if maps.ndim == 1:  # a fully connected layer: one bar per unit
        figure = new_figure(12, 4)
        image_axes, bar_axes = figure.subplots(1, 2, width_ratios=[1, 4])
        image_axes.imshow(displayable(image), cmap="gray")
        image_axes.set_axis_off()
        bar_axes.bar(np.arange(len(maps)), maps, color=color(0))
        bar_axes.set_xlabel("unit", fontsize=LABEL_SIZE)
        bar_axes.set_ylabel("activation", fontsize=LABEL_SIZE)
    else:
        shown = [image, *maps[:count]]
        columns = 8
        figure = new_figure(1.5 * columns, 1.6 * -(-len(shown) // columns) + 0.7)
        image_grid(
            figure, shown, ["input", *[f"channel {c}" for c in range(len(shown) - 1)]], columns, "viridis"
        )
    figure.suptitle(title, fontsize=TITLE_SIZE)
    save_png(figure, path)


def plot_patches(crops: list[list[np.ndarray]], channels: np.ndarray, path: Path, title: str) -> None:
    """One row per channel: the input patches that excite it most, strongest first."""
    rows, columns = len(crops), max(len(row) for row in crops)
    figure = new_figure(1.2 * columns + 1.2, 1.2 * rows + 0.7)
    grid = figure.subplots(rows, columns, squeeze=False)
    for r, row in enumerate(crops):
        for c, axes in enumerate(grid[r]):
            axes.set_xticks([])
            axes.set_yticks([])
            if c < len(row):
                picture = displayable(row[c])
                axes.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
        grid[r, 0].set_ylabel(f"channel {channels[r]}", fontsize=TEXT_SIZE)
    figure.suptitle(title, fontsize=TITLE_SIZE)
    save_png(figure, path)


def plot_maps(
    images: np.ndarray, maps: np.ndarray, captions: Sequence[str], path: Path, title: str, label: str
) -> None:
    """Pairs of rows: the images, then a heat map for each (saliency or occlusion), with a colour bar."""
    columns = len(images)
    figure = new_figure(1.9 * columns + 1, 4.3)
    grid = figure.subplots(2, columns, squeeze=False)
    for n in range(columns):
        picture = displayable(images[n])
        grid[0, n].imshow(picture, cmap="gray" if picture.ndim == 2 else None)
        grid[0, n].set_title(captions[n], fontsize=TEXT_SIZE)
        heat = grid[1, n].imshow(maps[n], cmap="inferno", vmin=0, vmax=max(float(maps[n].max()), 1e-12))
        for axes in grid[:, n]:
            axes.set_axis_off()
    figure.colorbar(heat, ax=grid[1, :].tolist(), fraction=0.02, pad=0.01, label=label)
    figure.suptitle(title, fontsize=TITLE_SIZE)
    save_png(figure, path)


def plot_neighbours(
    images: np.ndarray, by_feature: np.ndarray, by_pixel: np.ndarray, path: Path, title: str
) -> None:
    """For each query (first column), its nearest images in feature space (top row of the pair) and in pixel
    space (bottom row)."""
    queries, k = by_feature.shape
    figure = new_figure(1.2 * k + 1.5, 2.4 * queries + 0.7)
    grid = figure.subplots(2 * queries, k, squeeze=False)
    for q in range(queries):
        for row, (order, name) in enumerate(((by_feature, "features"), (by_pixel, "pixels"))):
            for c, axes in enumerate(grid[2 * q + row]):
                picture = displayable(images[order[q, c]])
                axes.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
                axes.set_xticks([])
                axes.set_yticks([])
            grid[2 * q + row, 0].set_ylabel(f"query\nby {name}", fontsize=TEXT_SIZE)
    figure.suptitle(title, fontsize=TITLE_SIZE)
    save_png(figure, path)


def plot_embedding(
    points: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    images: np.ndarray,
    path: Path,
    title: str,
    thumbnails: int = 120,
) -> None:
    """The 2-D map coloured by class (left) and the same map with image thumbnails (right)."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    figure = new_figure(16, 7.5)
    dots, pictures = figure.subplots(1, 2)
    for c, name in enumerate(classes):
        chosen = labels == c
        dots.scatter(points[chosen, 0], points[chosen, 1], s=9, color=color(c), label=name)
    dots.legend(fontsize=TEXT_SIZE, markerscale=2, loc="best")
    pictures.scatter(points[:, 0], points[:, 1], s=0)
    step = max(1, len(points) // thumbnails)
    for n in range(0, len(points), step):
        picture = displayable(images[n])
        box = OffsetImage(picture, zoom=0.9, cmap="gray" if picture.ndim == 2 else None)
        frame = {"edgecolor": color(int(labels[n])), "linewidth": 1.5}
        pictures.add_artist(AnnotationBbox(box, tuple(points[n]), pad=0.1, bboxprops=frame))
    for axes in (dots, pictures):
        axes.set_xticks([])
        axes.set_yticks([])
    dots.set_title("coloured by class", fontsize=LABEL_SIZE)
    pictures.set_title("with the images (frame: class colour)", fontsize=LABEL_SIZE)
    figure.suptitle(title, fontsize=TITLE_SIZE)
    save_png(figure, path)
