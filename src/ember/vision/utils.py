"""``ember.vision.utils``: torchvision's ``make_grid`` (which returns a tensor) and ``save_image``."""

from __future__ import annotations

from typing import Any

from ember.autograd import Tensor, from_numpy
from ember.data.transforms import grid
from ember.data.transforms import save_image as save_image


def make_grid(tensor: Any, **options: Any) -> Tensor:
    """Tile an N x C x H x W batch (or a list of C x H x W images) into one 3 x H' x W' tensor; options as
    torchvision's (``nrow``, ``padding``, ``normalize``, ``value_range``, ``scale_each``, ``pad_value``)."""
    if isinstance(tensor, list | tuple):
        tensor = [t.array if isinstance(t, Tensor) else t for t in tensor]
    return from_numpy(grid.make_grid(tensor, **options))


__all__ = ["make_grid", "save_image"]
