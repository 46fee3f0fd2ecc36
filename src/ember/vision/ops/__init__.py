"""``ember.vision.ops``: torchvision's box operations and RoI pooling and align, with its names and
semantics; ``interpolate`` and ``Upsample`` are ``ember.nn``'s (PyTorch's place for them), here too."""

from ember.nn import Upsample
from ember.nn.functional import interpolate
from ember.vision.ops.box_coder import BoxCoder
from ember.vision.ops.boxes import (
    batched_nms,
    box_area,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou,
    masks_to_boxes,
    nms,
    remove_small_boxes,
)
from ember.vision.ops.roi import RoIAlign, RoIPool, roi_align, roi_pool

__all__ = [
    "BoxCoder",
    "RoIAlign",
    "RoIPool",
    "Upsample",
    "batched_nms",
    "box_area",
    "box_iou",
    "clip_boxes_to_image",
    "generalized_box_iou",
    "interpolate",
    "masks_to_boxes",
    "nms",
    "remove_small_boxes",
    "roi_align",
    "roi_pool",
]
