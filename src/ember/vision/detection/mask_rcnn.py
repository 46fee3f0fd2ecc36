"""Mask R-CNN (He et al. 2017): Faster R-CNN with a mask branch on RoI-aligned features, torchvision's
``MaskRCNN``. In training its losses add ``loss_mask``; in eval mode each image's dict adds ``masks``
(D, 1, H, W) float32: the probability that each pixel belongs to the detection (threshold at 0.5 for a
binary mask), the 28 x 28 mask of the predicted class pasted into the image by the box
(``paste_masks_in_image``).

``maskrcnn_scenes``: ``fasterrcnn_scenes`` plus the mask branch scaled down: RoI align 14 x 14 (sampling
ratio 2), four 3x3 convolutions of 64, a transposed convolution to 28 x 28, 1x1 logits per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember import nn
from ember.autograd import Tensor
from ember.models.registry import register_model
from ember.nn.functional.upsampling import resize
from ember.ops import from_numpy
from ember.vision.detection.faster_rcnn import FasterRCNN, scenes_backbone, scenes_settings
from ember.vision.detection.roi_heads import MaskRCNNHeads, MaskRCNNPredictor, MultiScaleRoIAlign


def expand_boxes(boxes: np.ndarray, scale: float) -> np.ndarray:
    """Boxes grown by ``scale`` about their centres."""
    half = 0.5 * (boxes[:, 2:] - boxes[:, :2]) * scale
    centre = 0.5 * (boxes[:, 2:] + boxes[:, :2])
    return np.concatenate([centre - half, centre + half], axis=1)


def paste_mask_in_image(mask: np.ndarray, box: np.ndarray, height: int, width: int) -> np.ndarray:
    """One M x M mask resized (bilinear, half-pixel centres) to the integer box's size, inclusive of its
    last pixel, and placed there in an empty image (the parts outside the image cut off)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    w, h = max(x1 - x0 + 1, 1), max(y1 - y0 + 1, 1)
    resized = resize(mask, (h, w))
    image = np.zeros((height, width), dtype=np.float32)
    left, right = max(x0, 0), min(x1 + 1, width)
    top, bottom = max(y0, 0), min(y1 + 1, height)
    if right > left and bottom > top:
        image[top:bottom, left:right] = resized[top - y0 : bottom - y0, left - x0 : right - x0]
    return image


def paste_masks_in_image(
    masks: np.ndarray, boxes: np.ndarray, img_shape: tuple[int, int], padding: int = 1
) -> np.ndarray:
    """(D, 1, M, M) mask probabilities to (D, 1, H, W), torchvision's rule: each mask padded by
    ``padding`` zeros and its box grown by (M + 2 padding) / M to match, the box truncated to integers."""
    height, width = img_shape
    if len(masks) == 0:
        return np.zeros((0, 1, height, width), dtype=np.float32)
    side = masks.shape[-1]
    padded = np.pad(masks[:, 0], ((0, 0), (padding, padding), (padding, padding)))
    grown = np.trunc(expand_boxes(boxes, (side + 2 * padding) / side))
    pasted = [paste_mask_in_image(m, b, height, width) for m, b in zip(padded, grown, strict=True)]
    return np.stack(pasted)[:, None]


class MaskRCNN(FasterRCNN):
    """torchvision's ``MaskRCNN(backbone, num_classes, ..., mask_roi_pool, mask_head, mask_predictor)``:
    by default RoI align 14 x 14, four 3x3 convolutions of 256, a predictor to 28 x 28 of 256 channels."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int | None = None,
        mask_roi_pool: nn.Module | None = None,
        mask_head: nn.Module | None = None,
        mask_predictor: nn.Module | None = None,
        mask_layers: Sequence[int] = (256, 256, 256, 256),
        **kwargs: Any,
    ) -> None:
        super().__init__(backbone, num_classes, **kwargs)
        channels = int(backbone.out_channels)
        if mask_predictor is None and num_classes is None:
            raise ValueError("MaskRCNN: give num_classes or mask_predictor")
        self.roi_heads.mask_roi_pool = mask_roi_pool or MultiScaleRoIAlign(
            ["0"], output_size=14, sampling_ratio=2
        )
        self.roi_heads.mask_head = mask_head or MaskRCNNHeads(channels, mask_layers)
        self.roi_heads.mask_predictor = mask_predictor or MaskRCNNPredictor(
            list(mask_layers)[-1], list(mask_layers)[-1], int(num_classes or 0)
        )

    def postprocess(
        self, detections: list[dict[str, Any]], image_sizes: Sequence[tuple[int, int]]
    ) -> list[dict[str, Tensor]]:
        for detection, size in zip(detections, image_sizes, strict=True):
            detection["masks"] = paste_masks_in_image(detection["masks"], detection["boxes"], size)
        return [{key: from_numpy(np.ascontiguousarray(v)) for key, v in d.items()} for d in detections]


@register_model(
    "Mask R-CNN for the 64x64 scenes: fasterrcnn_scenes plus a mask branch (RoI align 14x14, four 3x3 "
    "convs, 28x28 masks per class) (He et al. 2017)",
    (1, 64, 64),
)
def maskrcnn_scenes(num_classes: int = 11, in_channels: int = 1, **options: Any) -> MaskRCNN:
    options.setdefault("mask_layers", (64, 64, 64, 64))
    return MaskRCNN(scenes_backbone(in_channels), num_classes, **scenes_settings(options))
