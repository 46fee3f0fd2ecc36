"""Anchors (Faster R-CNN, Ren et al. 2015): reference boxes of several sizes and aspect ratios centred on
every cell of every feature map, torchvision's ``AnchorGenerator`` with its rounding and order.

For one feature map with sizes ``s`` and aspect ratios ``r`` (height / width), the base anchors are the
boxes ``(-w/2, -h/2, w/2, h/2)`` with ``h = sqrt(r) s`` and ``w = s / sqrt(r)``, ratio-major (for each ratio,
every size), rounded to integers (to even at .5, as ``torch.round``), computed in float32. A map of
``gh x gw`` cells over an image of ``H x W`` has the integer stride ``(H // gh, W // gw)``; the anchors of
cell (i, j) are the base anchors shifted by ``(j * stride_w, i * stride_h)``, cells row-major, so the
anchors of a map are (gh * gw * A, 4) with the A anchors of a cell together, and the maps' anchors follow
one another in the order of the maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.errors import EmberError
from ember.nn.module import Module


class AnchorError(EmberError, ValueError):
    """Sizes and aspect ratios that do not pair up with the feature maps."""


def generate_anchors(sizes: Sequence[float], aspect_ratios: Sequence[float]) -> np.ndarray:
    """(len(aspect_ratios) * len(sizes), 4) float32 base anchors centred on 0, rounded (torchvision's)."""
    scales = np.asarray(sizes, dtype=np.float32)
    h_ratios = np.sqrt(np.asarray(aspect_ratios, dtype=np.float32))
    w_ratios = np.float32(1) / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return np.round(np.stack([-ws, -hs, ws, hs], axis=1) / np.float32(2))


def _spatial_size(item: Any) -> tuple[int, int]:
    shape = tuple(item.shape) if hasattr(item, "shape") else tuple(item)
    return int(shape[-2]), int(shape[-1])


class AnchorGenerator(Module):
    """``AnchorGenerator(sizes=((32, 64),), aspect_ratios=((0.5, 1.0, 2.0),))``: one tuple of sizes and one
    of ratios per feature map (a flat tuple of sizes means one size per map; one tuple of ratios is shared).

    ``forward(image_list, feature_maps)`` returns one (sum over maps of gh * gw * A, 4) float32 tensor per
    image. ``image_list`` is torchvision's ``ImageList`` (or anything with ``tensors``, the padded
    (N, C, H, W) batch, and ``image_sizes``), or the padded batch itself; ``feature_maps`` a list of
    (N, C, gh, gw) tensors or of plain (gh, gw) shapes. Every image of a batch gets the same anchors
    (those of the padded size), as in torchvision.
    """

    def __init__(
        self,
        sizes: Sequence[Any] = ((128, 256, 512),),
        aspect_ratios: Sequence[Any] = ((0.5, 1.0, 2.0),),
    ) -> None:
        super().__init__()
        if not isinstance(sizes[0], list | tuple):
            sizes = tuple((s,) for s in sizes)
        if not isinstance(aspect_ratios[0], list | tuple):
            aspect_ratios = (aspect_ratios,) * len(sizes)
        if len(sizes) != len(aspect_ratios):
            raise AnchorError(
                f"AnchorGenerator: {len(sizes)} tuples of sizes but {len(aspect_ratios)} of aspect ratios; "
                "give one of each per feature map"
            )
        self.sizes, self.aspect_ratios = tuple(sizes), tuple(aspect_ratios)
        self.cell_anchors = [
            generate_anchors(s, r) for s, r in zip(self.sizes, self.aspect_ratios, strict=True)
        ]

    def num_anchors_per_location(self) -> list[int]:
        """A = len(sizes) * len(aspect_ratios) for each feature map."""
        return [len(s) * len(r) for s, r in zip(self.sizes, self.aspect_ratios, strict=True)]

    def grid_anchors(
        self, grid_sizes: Sequence[tuple[int, int]], strides: Sequence[tuple[int, int]]
    ) -> list[np.ndarray]:
        """The (gh * gw * A, 4) anchors of each feature map: every cell's shift plus the base anchors."""
        if len(grid_sizes) != len(self.cell_anchors):
            raise AnchorError(
                f"AnchorGenerator: {len(grid_sizes)} feature maps but sizes and aspect ratios for "
                f"{len(self.cell_anchors)}; give one tuple of each per feature map"
            )
        anchors = []
        for (grid_h, grid_w), (stride_h, stride_w), base in zip(
            grid_sizes, strides, self.cell_anchors, strict=True
        ):
            grid_y, grid_x = np.meshgrid(
                np.arange(grid_h) * stride_h, np.arange(grid_w) * stride_w, indexing="ij"
            )
            shift_x, shift_y = grid_x.reshape(-1), grid_y.reshape(-1)
            shifts = np.stack([shift_x, shift_y, shift_x, shift_y], axis=1).astype(np.float32)
            anchors.append((shifts[:, None, :] + base[None, :, :]).reshape(-1, 4))
        return anchors

    def forward(self, image_list: Any, feature_maps: Sequence[Any]) -> list[Tensor]:
        batch = image_list.tensors if hasattr(image_list, "tensors") else image_list
        height, width = _spatial_size(batch)
        count = len(image_list.image_sizes) if hasattr(image_list, "image_sizes") else int(batch.shape[0])
        grid_sizes = [_spatial_size(feature_map) for feature_map in feature_maps]
        strides = [(height // grid_h, width // grid_w) for grid_h, grid_w in grid_sizes]
        anchors = np.concatenate(self.grid_anchors(grid_sizes, strides))
        return [Tensor(anchors.copy()) for _ in range(count)]

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, aspect_ratios={self.aspect_ratios}"
