"""The second stage of Faster / Mask R-CNN: torchvision's ``RoIHeads`` and its box and mask heads.

Each proposal's features are cut from the feature map by RoI align (He et al. 2017: bilinear samples, no
rounding; 7 x 7, two samples per bin side) and scored by a two-layer MLP (``TwoMLPHead``) with a classifier
over the classes (0 = background) and class-specific box deltas (``FastRCNNPredictor``; ``BoxCoder``
weights (10, 10, 5, 5)).

Training (Fast R-CNN's rules, Girshick 2015): the ground-truth boxes are added to the proposals; each
proposal takes the class of the ground-truth box it overlaps most if IoU >= 0.5, else the background;
512 proposals per image are sampled with at most 25% positives. Loss: cross-entropy over the sampled
proposals, and the smooth L1 (beta 1/9) of the positives' deltas of their true class, summed and divided by
the number of sampled proposals.

Inference: softmax scores; each proposal decoded with each class's deltas, clipped to the image; boxes of
score <= 0.05 and sides under 0.01 pixel dropped; NMS at 0.5 within each class; the best 100 kept.

Mask R-CNN's mask branch (``mask_roi_pool`` given): the positive proposals' features, RoI-aligned at
14 x 14, go through four 3x3 convolutions and a 2x2 transposed convolution to 28 x 28 logits per class
(``MaskRCNNHeads``, ``MaskRCNNPredictor``). Targets: each ground-truth mask RoI-aligned onto its proposal
at 28 x 28 (``project_masks_on_boxes``); the loss is the binary cross-entropy with logits on the channel of
the proposal's true class only (no competition between classes). At inference the predicted class's
channel, after a sigmoid, is the mask (``maskrcnn_inference``), pasted into the image by ``FasterRCNN``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ember import nn
from ember.autograd import Tensor, no_grad
from ember.nn import functional as F
from ember.ops import from_numpy, softmax
from ember.vision.detection.matcher import BalancedPositiveNegativeSampler, Matcher
from ember.vision.detection.rpn import values
from ember.vision.ops import (
    BoxCoder,
    batched_nms,
    box_iou,
    clip_boxes_to_image,
    remove_small_boxes,
    roi_align,
)


class MultiScaleRoIAlign(nn.Module):
    """torchvision's ``MultiScaleRoIAlign`` for one feature map: RoI align of ``featmap_names[0]`` with the
    scale inferred as torchvision does (2 ** round(log2(feature side / image side))). More than one map
    (an FPN's levels, assigned by box size) is not supported."""

    def __init__(self, featmap_names: Sequence[str], output_size: int, sampling_ratio: int) -> None:
        super().__init__()
        if len(featmap_names) != 1:
            raise ValueError(f"MultiScaleRoIAlign: one feature map only, got {list(featmap_names)}")
        self.featmap_names = list(featmap_names)
        self.output_size, self.sampling_ratio = output_size, sampling_ratio

    def forward(
        self, x: dict[str, Tensor], boxes: Sequence[Tensor], image_shapes: Sequence[tuple[int, int]]
    ) -> Tensor:
        feature = x[self.featmap_names[0]]
        scale = 2.0 ** round(math.log2(feature.shape[-2] / image_shapes[0][0]))
        return roi_align(feature, list(boxes), self.output_size, scale, self.sampling_ratio, aligned=False)


class TwoMLPHead(nn.Module):
    """Flatten, then two fully connected layers with ReLU (Fast R-CNN's fc6 and fc7)."""

    def __init__(self, in_channels: int, representation_size: int) -> None:
        super().__init__()
        self.fc6 = nn.Linear(in_channels, representation_size)
        self.fc7 = nn.Linear(representation_size, representation_size)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.fc7(F.relu(self.fc6(x.flatten(1)))))


class FastRCNNPredictor(nn.Module):
    """Class scores (R, num_classes) and class-specific box deltas (R, 4 * num_classes)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, num_classes * 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = x.flatten(1)
        return self.cls_score(x), self.bbox_pred(x)


class MaskRCNNHeads(nn.Sequential):
    """3x3 convolutions + ReLU, one per entry of ``layers`` (torchvision's four of 256; Kaiming normal
    fan-out weights, zero biases)."""

    def __init__(self, in_channels: int, layers: Sequence[int]) -> None:
        modules: list[nn.Module] = []
        for width in layers:
            conv = nn.Conv2d(in_channels, width, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            modules += [conv, nn.ReLU()]
            in_channels = width
        super().__init__(*modules)


class MaskRCNNPredictor(nn.Module):
    """A 2x2 transposed convolution of stride 2 (14 -> 28) + ReLU, then 1x1 logits per class."""

    def __init__(self, in_channels: int, dim_reduced: int, num_classes: int) -> None:
        super().__init__()
        self.conv5_mask = nn.ConvTranspose2d(in_channels, dim_reduced, 2, stride=2)
        self.mask_fcn_logits = nn.Conv2d(dim_reduced, num_classes, 1)
        for layer in (self.conv5_mask, self.mask_fcn_logits):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.mask_fcn_logits(F.relu(self.conv5_mask(x)))


def fastrcnn_loss(
    class_logits: Tensor, box_regression: Tensor, labels: np.ndarray, regression_targets: np.ndarray
) -> tuple[Tensor, Tensor]:
    """Cross-entropy over the sampled proposals; smooth L1 (beta 1/9) of the positives' true-class
    deltas, summed over the positives and divided by the number of sampled proposals."""
    classification_loss = F.cross_entropy(class_logits, from_numpy(labels))
    positive = np.flatnonzero(labels > 0)
    deltas = box_regression.reshape(len(labels), -1, 4)[positive, labels[positive]]
    box_loss = F.smooth_l1_loss(
        deltas, from_numpy(regression_targets[positive]), beta=1 / 9, reduction="sum"
    ) / max(len(labels), 1)
    return classification_loss, box_loss


def project_masks_on_boxes(
    gt_masks: np.ndarray, boxes: np.ndarray, matched_idxs: np.ndarray, size: int
) -> np.ndarray:
    """Each proposal's ground-truth mask cut to the proposal and resized to ``size`` x ``size``: RoI align
    of the (G, 1, H, W) masks with RoIs (matched index, box) (torchvision's rule: scale 1, sampling ratio
    -1, not aligned)."""
    rois = np.concatenate([matched_idxs[:, None].astype(np.float32), boxes.astype(np.float32)], axis=1)
    with no_grad():
        projected = roi_align(from_numpy(gt_masks[:, None].astype(np.float32)), from_numpy(rois), size, 1.0)
    return values(projected)[:, 0]


def maskrcnn_loss(
    mask_logits: Tensor,
    proposals: Sequence[np.ndarray],
    gt_masks: Sequence[np.ndarray],
    gt_labels: Sequence[np.ndarray],
    mask_matched_idxs: Sequence[np.ndarray],
) -> Tensor:
    """Binary cross-entropy with logits of each positive proposal's true-class mask channel against its
    projected ground-truth mask (mean over the pixels of every mask)."""
    size = mask_logits.shape[-1]
    labels = np.concatenate([lab[idx] for lab, idx in zip(gt_labels, mask_matched_idxs, strict=True)])
    targets = [
        project_masks_on_boxes(m, p, i, size)
        for m, p, i in zip(gt_masks, proposals, mask_matched_idxs, strict=True)
        if len(p)
    ]
    if not targets:
        return mask_logits.sum() * 0.0
    chosen = mask_logits[np.arange(len(labels)), labels]
    return F.binary_cross_entropy_with_logits(chosen, from_numpy(np.concatenate(targets)))


def maskrcnn_inference(x: Tensor, labels: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each detection's mask probabilities (D, 1, M, M): the sigmoid of its predicted class's channel."""
    all_labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    logits = values(x)[np.arange(len(all_labels)), all_labels][:, None]
    probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    return np.split(probs.astype(np.float32), np.cumsum([len(lab) for lab in labels])[:-1])


class RoIHeads(nn.Module):
    """Box (and optionally mask) heads on the proposals: losses in training, detections in evaluation
    (torchvision's arguments and defaults)."""

    def __init__(
        self,
        box_roi_pool: nn.Module,
        box_head: nn.Module,
        box_predictor: nn.Module,
        fg_iou_thresh: float = 0.5,
        bg_iou_thresh: float = 0.5,
        batch_size_per_image: int = 512,
        positive_fraction: float = 0.25,
        bbox_reg_weights: Sequence[float] | None = None,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        detections_per_img: int = 100,
        mask_roi_pool: nn.Module | None = None,
        mask_head: nn.Module | None = None,
        mask_predictor: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.box_roi_pool, self.box_head, self.box_predictor = box_roi_pool, box_head, box_predictor
        self.proposal_matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=False)
        self.fg_bg_sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)
        self.box_coder = BoxCoder(bbox_reg_weights or (10.0, 10.0, 5.0, 5.0))
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.detections_per_img = detections_per_img
        self.mask_roi_pool, self.mask_head, self.mask_predictor = mask_roi_pool, mask_head, mask_predictor

    def has_mask(self) -> bool:
        return (
            self.mask_roi_pool is not None and self.mask_head is not None and self.mask_predictor is not None
        )

    def mask_size(self) -> tuple[int, int]:
        """The side of the predicted masks: twice the mask RoI align's output (the transposed conv)."""
        side = 2 * int(getattr(self.mask_roi_pool, "output_size", 14))
        return side, side

    def assign_targets_to_proposals(
        self, proposals: Sequence[np.ndarray], gt_boxes: Sequence[np.ndarray], gt_labels: Sequence[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per image: each proposal's matched ground-truth index (clamped at 0) and label (0 background,
        -1 ignored)."""
        matched_idxs, labels = [], []
        for boxes, gt, gt_lab in zip(proposals, gt_boxes, gt_labels, strict=True):
            if len(gt) == 0:
                matched_idxs.append(np.zeros(len(boxes), dtype=np.int64))
                labels.append(np.zeros(len(boxes), dtype=np.int64))
                continue
            matched = values(self.proposal_matcher(box_iou(gt, boxes))).astype(np.int64)
            clamped = np.clip(matched, 0, None)
            image_labels = gt_lab[clamped].astype(np.int64)
            image_labels[matched == Matcher.BELOW_LOW_THRESHOLD] = 0
            image_labels[matched == Matcher.BETWEEN_THRESHOLDS] = -1
            matched_idxs.append(clamped)
            labels.append(image_labels)
        return matched_idxs, labels

    def select_training_samples(
        self, proposals: Sequence[Tensor], targets: Sequence[dict[str, Any]]
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray]:
        """The sampled proposals (ground truth added), their matched indices, labels and box targets."""
        gt_boxes = [values(t["boxes"]).astype(np.float32).reshape(-1, 4) for t in targets]
        gt_labels = [values(t["labels"]).astype(np.int64) for t in targets]
        boxes = [np.concatenate([values(p), gt]) for p, gt in zip(proposals, gt_boxes, strict=True)]
        matched_idxs, labels = self.assign_targets_to_proposals(boxes, gt_boxes, gt_labels)
        pos_masks, neg_masks = self.fg_bg_sampler([from_numpy(lab) for lab in labels])
        matched_gt = []
        for image, (pos, neg) in enumerate(zip(pos_masks, neg_masks, strict=True)):
            sampled = np.flatnonzero(values(pos) | values(neg))
            boxes[image], labels[image] = boxes[image][sampled], labels[image][sampled]
            matched_idxs[image] = matched_idxs[image][sampled]
            gt = gt_boxes[image] if len(gt_boxes[image]) else np.zeros((1, 4), np.float32)
            matched_gt.append(gt[matched_idxs[image]])
        with no_grad():
            targets_encoded = self.box_coder.encode_single(
                from_numpy(np.concatenate(matched_gt)), from_numpy(np.concatenate(boxes))
            )
        return boxes, matched_idxs, labels, values(targets_encoded)

    def postprocess_detections(
        self,
        class_logits: Tensor,
        box_regression: Tensor,
        proposals: Sequence[np.ndarray],
        image_shapes: Sequence[tuple[int, int]],
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Per image: boxes, scores, labels after the score threshold, small-box removal, per-class NMS and
        the top ``detections_per_img``."""
        num_classes = class_logits.shape[-1]
        with no_grad():
            decoded = self.box_coder.decode(from_numpy(values(box_regression)), list(proposals))
            scores_all = values(softmax(from_numpy(values(class_logits)), dim=-1))
        pred_boxes = values(decoded)
        counts = np.cumsum([len(p) for p in proposals])[:-1]
        all_boxes, all_scores, all_labels = [], [], []
        for boxes, scores, shape in zip(
            np.split(pred_boxes, counts), np.split(scores_all, counts), image_shapes, strict=True
        ):
            boxes = values(clip_boxes_to_image(boxes, shape))
            labels = np.broadcast_to(np.arange(num_classes), scores.shape)
            boxes, scores, labels = boxes[:, 1:].reshape(-1, 4), scores[:, 1:].ravel(), labels[:, 1:].ravel()
            keep = np.flatnonzero(scores > self.score_thresh)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = values(remove_small_boxes(boxes, 1e-2))
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = values(batched_nms(boxes, scores, labels, self.nms_thresh))[: self.detections_per_img]
            all_boxes.append(boxes[keep])
            all_scores.append(scores[keep])
            all_labels.append(labels[keep].astype(np.int64))
        return all_boxes, all_scores, all_labels

    def forward(
        self,
        features: dict[str, Tensor],
        proposals: Sequence[Tensor],
        image_shapes: Sequence[tuple[int, int]],
        targets: Sequence[dict[str, Any]] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Tensor]]:
        if self.training and targets is None:
            raise ValueError("RoIHeads: targets are needed in training mode")
        boxes = [values(p) for p in proposals]
        if self.training:
            assert targets is not None
            boxes, matched_idxs, labels, regression_targets = self.select_training_samples(proposals, targets)
        rois = [from_numpy(np.ascontiguousarray(b)) for b in boxes]
        box_features = self.box_head(self.box_roi_pool(features, rois, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        result: list[dict[str, Any]] = []
        losses: dict[str, Tensor] = {}
        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(
                class_logits, box_regression, np.concatenate(labels), regression_targets
            )
            losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
        else:
            kept = self.postprocess_detections(class_logits, box_regression, boxes, image_shapes)
            for b, s, lab in zip(*kept, strict=True):
                result.append({"boxes": b, "labels": lab, "scores": s})
        if self.has_mask():
            assert self.mask_roi_pool is not None and self.mask_head is not None
            assert self.mask_predictor is not None
            if self.training:
                assert targets is not None
                positives = [np.flatnonzero(lab > 0) for lab in labels]
                mask_proposals = [b[pos] for b, pos in zip(boxes, positives, strict=True)]
                pos_matched_idxs = [m[pos] for m, pos in zip(matched_idxs, positives, strict=True)]
            else:
                mask_proposals = [r["boxes"] for r in result]
            if sum(len(b) for b in mask_proposals) == 0:  # no positive proposal, no detection
                if self.training:
                    losses["loss_mask"] = class_logits.sum() * 0.0
                else:
                    for r in result:
                        r["masks"] = np.zeros((0, 1, *self.mask_size()), np.float32)
                return result, losses
            mask_rois = [from_numpy(np.ascontiguousarray(b, dtype=np.float32)) for b in mask_proposals]
            mask_features = self.mask_head(self.mask_roi_pool(features, mask_rois, image_shapes))
            mask_logits = self.mask_predictor(mask_features)
            if self.training:
                assert targets is not None
                gt_masks = [values(t["masks"]) for t in targets]
                gt_labels = [values(t["labels"]).astype(np.int64) for t in targets]
                losses["loss_mask"] = maskrcnn_loss(
                    mask_logits, mask_proposals, gt_masks, gt_labels, pos_matched_idxs
                )
            else:
                probs = maskrcnn_inference(mask_logits, [r["labels"] for r in result])
                for r, p in zip(result, probs, strict=True):
                    r["masks"] = p
        return result, losses
