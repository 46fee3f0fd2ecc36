"""Faster R-CNN (Ren et al. 2015): a backbone, a region proposal network and Fast R-CNN's RoI heads, as
torchvision's ``FasterRCNN`` (its arguments, defaults and outputs).

``model(images, targets)`` in training mode returns the losses ``{"loss_classifier", "loss_box_reg",
"loss_objectness", "loss_rpn_box_reg"}`` (train on their sum); in eval mode ``model(images)`` returns one dict
per image: ``boxes`` (D, 4) float32 (x1, y1, x2, y2 in pixels), ``labels`` (D,) int64 (0 is the
background, never returned), ``scores`` (D,) float32, best first. ``images`` is a (N, C, H, W) tensor or a
list of (C, H, W) tensors of one size; ``targets`` a list of dicts with ``boxes`` and ``labels`` (and
``masks`` for Mask R-CNN).

torchvision's ``GeneralizedRCNNTransform`` (resizing to 800 pixels, normalizing by ImageNet's statistics) is
not used: the images are fed as they are, at their own size, and the detections are in their pixels.

``fasterrcnn_scenes``: the model for the 64 x 64 single-channel scenes (``ember.vision.datasets.Scenes``):
a backbone of four 3x3 conv-BN-ReLU layers at stride 4 with 64 channels (a 16 x 16 map), anchors of sides
{12, 20, 32} x aspect ratios {0.5, 1, 2} on that map, RoI align 7 x 7, a two-layer head of 256.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember import nn
from ember.autograd import Tensor
from ember.errors import EmberError
from ember.models.registry import register_model
from ember.ops import from_numpy, stack
from ember.vision.detection.anchors import AnchorGenerator
from ember.vision.detection.image_list import ImageList
from ember.vision.detection.roi_heads import FastRCNNPredictor, MultiScaleRoIAlign, RoIHeads, TwoMLPHead
from ember.vision.detection.rpn import RegionProposalNetwork, RPNHead, values


class DetectionInputError(EmberError, ValueError):
    """Images or targets a detector cannot take (raised before any work)."""


class FasterRCNN(nn.Module):
    """torchvision's ``FasterRCNN(backbone, num_classes, ...)``: ``backbone`` maps (N, C, H, W) images to
    one feature map and has ``out_channels``; the RPN's and RoI heads' settings keep torchvision's names and
    defaults (``rpn_*``, ``box_*``)."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int | None = None,
        rpn_anchor_generator: AnchorGenerator | None = None,
        rpn_head: nn.Module | None = None,
        rpn_pre_nms_top_n_train: int = 2000,
        rpn_pre_nms_top_n_test: int = 1000,
        rpn_post_nms_top_n_train: int = 2000,
        rpn_post_nms_top_n_test: int = 1000,
        rpn_nms_thresh: float = 0.7,
        rpn_fg_iou_thresh: float = 0.7,
        rpn_bg_iou_thresh: float = 0.3,
        rpn_batch_size_per_image: int = 256,
        rpn_positive_fraction: float = 0.5,
        rpn_score_thresh: float = 0.0,
        box_roi_pool: nn.Module | None = None,
        box_head: nn.Module | None = None,
        box_predictor: nn.Module | None = None,
        box_score_thresh: float = 0.05,
        box_nms_thresh: float = 0.5,
        box_detections_per_img: int = 100,
        box_fg_iou_thresh: float = 0.5,
        box_bg_iou_thresh: float = 0.5,
        box_batch_size_per_image: int = 512,
        box_positive_fraction: float = 0.25,
        bbox_reg_weights: Sequence[float] | None = None,
        representation_size: int = 1024,
    ) -> None:
        super().__init__()
        if not hasattr(backbone, "out_channels"):
            raise ValueError("FasterRCNN: the backbone must say its out_channels (the feature map's width)")
        if (num_classes is None) == (box_predictor is None):
            raise ValueError("FasterRCNN: give num_classes or box_predictor, exactly one")
        channels = int(backbone.out_channels)
        if rpn_anchor_generator is None:
            rpn_anchor_generator = AnchorGenerator(((32, 64, 128, 256, 512),), ((0.5, 1.0, 2.0),))
        if rpn_head is None:
            rpn_head = RPNHead(channels, rpn_anchor_generator.num_anchors_per_location()[0])
        self.backbone = backbone
        self.rpn = RegionProposalNetwork(
            rpn_anchor_generator,
            rpn_head,
            rpn_fg_iou_thresh,
            rpn_bg_iou_thresh,
            rpn_batch_size_per_image,
            rpn_positive_fraction,
            {"training": rpn_pre_nms_top_n_train, "testing": rpn_pre_nms_top_n_test},
            {"training": rpn_post_nms_top_n_train, "testing": rpn_post_nms_top_n_test},
            rpn_nms_thresh,
            rpn_score_thresh,
        )
        box_roi_pool = box_roi_pool or MultiScaleRoIAlign(["0"], output_size=7, sampling_ratio=2)
        box_head = box_head or TwoMLPHead(channels * 7 * 7, representation_size)
        box_predictor = box_predictor or FastRCNNPredictor(representation_size, int(num_classes or 0))
        self.roi_heads = RoIHeads(
            box_roi_pool,
            box_head,
            box_predictor,
            box_fg_iou_thresh,
            box_bg_iou_thresh,
            box_batch_size_per_image,
            box_positive_fraction,
            bbox_reg_weights,
            box_score_thresh,
            box_nms_thresh,
            box_detections_per_img,
        )

    def batch_images(self, images: Any) -> ImageList:
        """The images as one (N, C, H, W) tensor with their sizes (no resizing, no normalization)."""
        if isinstance(images, Tensor | np.ndarray):
            tensor = images if isinstance(images, Tensor) else from_numpy(np.asarray(images, np.float32))
            if tensor.ndim != 4:
                raise DetectionInputError(
                    f"detector: expected (N, C, H, W) images, got {tuple(tensor.shape)}"
                )
        else:
            images = [i if isinstance(i, Tensor) else from_numpy(np.asarray(i, np.float32)) for i in images]
            shapes = {tuple(i.shape) for i in images}
            if len(shapes) != 1 or len(next(iter(shapes))) != 3:
                raise DetectionInputError(
                    f"detector: expected (C, H, W) images of one size, got shapes {sorted(shapes)}"
                )
            tensor = stack(images)
        size = (int(tensor.shape[-2]), int(tensor.shape[-1]))
        return ImageList(tensor, [size] * int(tensor.shape[0]))

    def postprocess(
        self, detections: list[dict[str, Any]], image_sizes: Sequence[tuple[int, int]]
    ) -> list[dict[str, Tensor]]:
        """The detections as tensors (Mask R-CNN pastes its masks into the image here)."""
        return [{key: from_numpy(np.ascontiguousarray(v)) for key, v in d.items()} for d in detections]

    def forward(self, images: Any, targets: Sequence[dict[str, Any]] | None = None) -> Any:
        if self.training:
            if targets is None:
                raise DetectionInputError(
                    "detector: targets are needed in training mode (model.eval() to predict)"
                )
            for index, target in enumerate(targets):
                boxes = values(target["boxes"]).reshape(-1, 4)
                if len(boxes) and np.any(boxes[:, 2:] <= boxes[:, :2]):
                    raise DetectionInputError(
                        f"detector: target {index} has a box of no width or height; boxes are "
                        "(x1, y1, x2, y2)"
                    )
        image_list = self.batch_images(images)
        if targets is not None and len(targets) != len(image_list.image_sizes):
            raise DetectionInputError(
                f"detector: {len(image_list.image_sizes)} images but {len(targets)} targets"
            )
        features = self.backbone(image_list.tensors)
        feature_maps = features if isinstance(features, dict) else {"0": features}
        proposals, proposal_losses = self.rpn(image_list, feature_maps, targets)
        detections, detector_losses = self.roi_heads(feature_maps, proposals, image_list.image_sizes, targets)
        if self.training:
            return {**detector_losses, **proposal_losses}
        return self.postprocess(detections, image_list.image_sizes)


def scenes_backbone(in_channels: int = 1, width: int = 64) -> nn.Sequential:
    """Four 3x3 conv-BN-ReLU layers, the second and fourth of stride 2: a feature map at stride 4."""
    layers: list[nn.Module] = []
    for index, stride in enumerate((1, 2, 1, 2)):
        channels = in_channels if index == 0 else width
        layers += [
            nn.Conv2d(channels, width, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
    backbone = nn.Sequential(*layers)
    backbone.out_channels = width
    return backbone


SCENES_ANCHORS = {"sizes": ((12, 20, 32),), "aspect_ratios": ((0.5, 1.0, 2.0),)}


def scenes_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The scenes detectors' settings: the anchors and a head of 256, any of torchvision's options given."""
    settings = {"representation_size": 256, **options}
    if "rpn_anchor_generator" not in settings:
        settings["rpn_anchor_generator"] = AnchorGenerator(
            SCENES_ANCHORS["sizes"], SCENES_ANCHORS["aspect_ratios"]
        )
    return settings


@register_model(
    "Faster R-CNN for the 64x64 scenes: 4-conv backbone at stride 4, RPN with anchors {12,20,32} x "
    "{0.5,1,2}, RoI align 7x7, two-layer box head (Ren et al. 2015)",
    (1, 64, 64),
)
def fasterrcnn_scenes(num_classes: int = 11, in_channels: int = 1, **options: Any) -> FasterRCNN:
    return FasterRCNN(scenes_backbone(in_channels), num_classes, **scenes_settings(options))
