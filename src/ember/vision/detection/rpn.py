"""The region proposal network of Faster R-CNN (Ren et al. 2015), torchvision's ``RegionProposalNetwork``.

A 3x3 convolution slides over the feature map; at every cell two 1x1 convolutions score each of the A anchors
there ("object or not": one logit, sigmoid) and regress its box (4 deltas, ``BoxCoder`` weights (1, 1, 1, 1)).

Proposals (no gradient): the ``pre_nms_top_n`` best-scoring anchors of each feature level, decoded, clipped to
the image, those under 1e-3 pixels and under ``score_thresh`` dropped, NMS at ``nms_thresh`` (0.7) per level,
the ``post_nms_top_n`` best kept, best first.

Loss (training): every anchor is matched to the ground-truth box it overlaps most (``Matcher``: IoU >= 0.7
positive, < 0.3 negative, in between ignored, and each ground-truth box's best anchors made positive, the
"low-quality matches"); 256 anchors per image are sampled, at most half positive
(``BalancedPositiveNegativeSampler``). The objectness loss is the binary cross-entropy with logits averaged
over the sampled anchors; the box loss the smooth L1 (beta 1/9) of the positives' deltas, summed and divided
by the number of sampled anchors.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ember import nn
from ember.autograd import Tensor, no_grad
from ember.nn import functional as F
from ember.ops import cat, from_numpy
from ember.vision.detection.anchors import AnchorGenerator
from ember.vision.detection.image_list import ImageList
from ember.vision.detection.matcher import BalancedPositiveNegativeSampler, Matcher
from ember.vision.ops import BoxCoder, batched_nms, box_iou, clip_boxes_to_image, remove_small_boxes


def values(x: Any) -> np.ndarray:
    """The NumPy array of a tensor (or of anything array-like)."""
    return x.array if isinstance(x, Tensor) else np.asarray(x)


class RPNHead(nn.Module):
    """A 3x3 convolution + ReLU, then a 1x1 convolution for the A objectness logits and one for the 4A
    box deltas of each cell (weights normal with std 0.01, biases 0, as torchvision)."""

    def __init__(self, in_channels: int, num_anchors: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.ReLU())
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 1)
        for layer in (self.conv[0], self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        logits, bbox_reg = [], []
        for feature in x:
            t = self.conv(feature)
            logits.append(self.cls_logits(t))
            bbox_reg.append(self.bbox_pred(t))
        return logits, bbox_reg


def permute_and_flatten(layer: Tensor, n: int, a: int, c: int, h: int, w: int) -> Tensor:
    """(N, A*C, H, W) to (N, H*W*A, C): the anchors of a cell next to each other, cells in row order."""
    return layer.reshape(n, a, c, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, c)


def concat_box_prediction_layers(
    box_cls: Sequence[Tensor], box_regression: Sequence[Tensor]
) -> tuple[Tensor, Tensor]:
    """Every level's logits and deltas flattened in the anchors' order: (N * sum HWA, 1) and (..., 4)."""
    flat_cls, flat_reg = [], []
    for cls_level, reg_level in zip(box_cls, box_regression, strict=True):
        n, ac, h, w = cls_level.shape
        a = reg_level.shape[1] // 4
        flat_cls.append(permute_and_flatten(cls_level, n, a, ac // a, h, w))
        flat_reg.append(permute_and_flatten(reg_level, n, a, 4, h, w))
    return cat(flat_cls, dim=1).reshape(-1, 1), cat(flat_reg, dim=1).reshape(-1, 4)


class RegionProposalNetwork(nn.Module):
    """Proposals (a list of (P_i, 4) tensors, best first) and, in training, the losses
    ``{"loss_objectness", "loss_rpn_box_reg"}`` (torchvision's arguments and defaults, sizes as dicts
    ``{"training": n, "testing": n}``)."""

    def __init__(
        self,
        anchor_generator: AnchorGenerator,
        head: nn.Module,
        fg_iou_thresh: float = 0.7,
        bg_iou_thresh: float = 0.3,
        batch_size_per_image: int = 256,
        positive_fraction: float = 0.5,
        pre_nms_top_n: dict[str, int] | None = None,
        post_nms_top_n: dict[str, int] | None = None,
        nms_thresh: float = 0.7,
        score_thresh: float = 0.0,
    ) -> None:
        super().__init__()
        self.anchor_generator, self.head = anchor_generator, head
        self.box_coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
        self.proposal_matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=True)
        self.fg_bg_sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)
        self._pre_nms_top_n = pre_nms_top_n or {"training": 2000, "testing": 1000}
        self._post_nms_top_n = post_nms_top_n or {"training": 2000, "testing": 1000}
        self.nms_thresh, self.score_thresh, self.min_size = nms_thresh, score_thresh, 1e-3

    def pre_nms_top_n(self) -> int:
        return self._pre_nms_top_n["training" if self.training else "testing"]

    def post_nms_top_n(self) -> int:
        return self._post_nms_top_n["training" if self.training else "testing"]

    def assign_targets_to_anchors(
        self, anchors: Sequence[Tensor], targets: Sequence[dict[str, Any]]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per image: each anchor's label (1 object, 0 background, -1 ignored) and its matched box."""
        labels, matched_boxes = [], []
        for anchors_per_image, target in zip(anchors, targets, strict=True):
            gt_boxes = values(target["boxes"]).astype(np.float32).reshape(-1, 4)
            count = len(values(anchors_per_image))
            if len(gt_boxes) == 0:
                labels.append(np.zeros(count, dtype=np.float32))
                matched_boxes.append(np.zeros((count, 4), dtype=np.float32))
                continue
            quality = box_iou(gt_boxes, values(anchors_per_image))
            matched = values(self.proposal_matcher(quality)).astype(np.int64)
            matched_boxes.append(gt_boxes[np.clip(matched, 0, None)])
            image_labels = (matched >= 0).astype(np.float32)
            image_labels[matched == Matcher.BELOW_LOW_THRESHOLD] = 0.0
            image_labels[matched == Matcher.BETWEEN_THRESHOLDS] = -1.0
            labels.append(image_labels)
        return labels, matched_boxes

    def filter_proposals(
        self,
        proposals: np.ndarray,
        objectness: np.ndarray,
        image_shapes: Sequence[tuple[int, int]],
        num_anchors_per_level: Sequence[int],
    ) -> tuple[list[Tensor], list[Tensor]]:
        """The top-n per level, clipped, small and low-scoring boxes dropped, NMS per level, the top-n."""
        num_images = proposals.shape[0]
        objectness = objectness.reshape(num_images, -1)
        levels = np.concatenate([np.full(n, i) for i, n in enumerate(num_anchors_per_level)])
        starts = np.cumsum([0, *num_anchors_per_level])
        top = []
        for start, stop in itertools.pairwise(starts):
            k = min(self.pre_nms_top_n(), stop - start)
            order = np.argsort(-objectness[:, start:stop], axis=1, kind="stable")[:, :k]
            top.append(order + start)
        chosen = np.concatenate(top, axis=1)
        rows = np.arange(num_images)[:, None]
        scores_all = 1.0 / (1.0 + np.exp(-objectness[rows, chosen].astype(np.float64)))
        final_boxes, final_scores = [], []
        for image in range(num_images):
            boxes = values(clip_boxes_to_image(proposals[image, chosen[image]], image_shapes[image]))
            scores, lvl = scores_all[image].astype(np.float32), levels[chosen[image]]
            keep = values(remove_small_boxes(boxes, self.min_size))
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
            keep = np.flatnonzero(scores >= self.score_thresh)
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
            keep = values(batched_nms(boxes, scores, lvl, self.nms_thresh))[: self.post_nms_top_n()]
            final_boxes.append(from_numpy(np.ascontiguousarray(boxes[keep])))
            final_scores.append(from_numpy(np.ascontiguousarray(scores[keep])))
        return final_boxes, final_scores

    def compute_loss(
        self,
        objectness: Tensor,
        pred_bbox_deltas: Tensor,
        labels: Sequence[np.ndarray],
        regression_targets: np.ndarray,
    ) -> tuple[Tensor, Tensor]:
        """(objectness loss, box loss) over 256 sampled anchors per image (see the module's docstring)."""
        pos_masks, neg_masks = self.fg_bg_sampler([from_numpy(label) for label in labels])
        positive = np.flatnonzero(np.concatenate([values(m) for m in pos_masks]))
        negative = np.flatnonzero(np.concatenate([values(m) for m in neg_masks]))
        sampled = np.concatenate([positive, negative])
        all_labels = np.concatenate(labels)
        box_loss = F.smooth_l1_loss(
            pred_bbox_deltas[positive],
            from_numpy(regression_targets[positive]),
            beta=1 / 9,
            reduction="sum",
        ) / max(len(sampled), 1)
        objectness_loss = F.binary_cross_entropy_with_logits(
            objectness.reshape(-1)[sampled], from_numpy(all_labels[sampled])
        )
        return objectness_loss, box_loss

    def forward(
        self,
        images: ImageList,
        features: dict[str, Tensor],
        targets: Sequence[dict[str, Any]] | None = None,
    ) -> tuple[list[Tensor], dict[str, Tensor]]:
        feature_maps = list(features.values())
        objectness, pred_bbox_deltas = self.head(feature_maps)
        anchors = self.anchor_generator(images, feature_maps)
        num_images = len(anchors)
        num_anchors_per_level = [int(np.prod(o.shape[1:])) for o in objectness]
        objectness, pred_bbox_deltas = concat_box_prediction_layers(objectness, pred_bbox_deltas)
        anchor_arrays = [values(a) for a in anchors]
        with no_grad():  # proposals carry no gradient (torchvision detaches them)
            decoded = self.box_coder.decode(from_numpy(values(pred_bbox_deltas)), anchor_arrays)
        proposals = values(decoded).reshape(num_images, -1, 4)
        boxes, _ = self.filter_proposals(
            proposals, values(objectness), images.image_sizes, num_anchors_per_level
        )
        losses: dict[str, Tensor] = {}
        if self.training:
            if targets is None:
                raise ValueError("RegionProposalNetwork: targets are needed in training mode")
            labels, matched_boxes = self.assign_targets_to_anchors(anchors, targets)
            with no_grad():
                encoded = self.box_coder.encode_single(
                    from_numpy(np.concatenate(matched_boxes)), from_numpy(np.concatenate(anchor_arrays))
                )
            loss_objectness, loss_rpn_box_reg = self.compute_loss(
                objectness, pred_bbox_deltas, labels, values(encoded)
            )
            losses = {"loss_objectness": loss_objectness, "loss_rpn_box_reg": loss_rpn_box_reg}
        return boxes, losses
