"""``ember.vision.ops``: torchvision's box operations, RoI pooling and align, and bilinear resizing, with its
names and semantics."""

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
from ember.vision.ops.interpolate import Upsample, interpolate
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
