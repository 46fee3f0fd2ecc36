"""torchvision's ``ImageList``: a batch of images as one tensor and each image's own (height, width)."""

from __future__ import annotations

from dataclasses import dataclass

from ember.autograd import Tensor


@dataclass
class ImageList:
    """``tensors`` (N, C, H, W) and the ``image_sizes`` [(h, w), ...] of the images inside it."""

    tensors: Tensor
    image_sizes: list[tuple[int, int]]
