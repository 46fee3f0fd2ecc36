"""Faster / Mask R-CNN (ember.vision.detection): the RPN's and RoI heads' losses on hand-made inputs,
proposals, gradient flow, torchvision's output format in training and eval mode, pasting masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember import nn
from ember.vision.detection.anchors import AnchorGenerator
from ember.vision.detection.faster_rcnn import DetectionInputError, fasterrcnn_scenes
from ember.vision.detection.image_list import ImageList
from ember.vision.detection.mask_rcnn import maskrcnn_scenes, paste_masks_in_image
from ember.vision.detection.roi_heads import (
    FastRCNNPredictor,
    MultiScaleRoIAlign,
    RoIHeads,
    TwoMLPHead,
)
from ember.vision.detection.rpn import RegionProposalNetwork, RPNHead

# Fewer proposals and sampled RoIs than the defaults: the same code paths, a fraction of the time.
SMALL = {
    "rpn_pre_nms_top_n_train": 300,
    "rpn_post_nms_top_n_train": 300,
    "rpn_pre_nms_top_n_test": 100,
    "rpn_post_nms_top_n_test": 100,
    "box_batch_size_per_image": 64,
}


def smooth_l1(x: np.ndarray, beta: float = 1 / 9) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < beta, 0.5 * x**2 / beta, x - 0.5 * beta)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def zero_rpn() -> RegionProposalNetwork:
    """An RPN on an 8 x 8 map of a 32 x 32 image, one 8 x 8 anchor per cell, a head that outputs zeros."""
    head = RPNHead(4, 1)
    for layer in (head.cls_logits, head.bbox_pred):
        nn.init.zeros_(layer.weight)
    return RegionProposalNetwork(AnchorGenerator(((8,),), ((1.0,),)), head)


def test_rpn_loss_on_a_hand_made_scene() -> None:
    rpn = zero_rpn().train()
    images = ImageList(ember.zeros(1, 1, 32, 32), [(32, 32)])
    features = {"0": ember.randn(1, 4, 8, 8)}
    gt = np.array([[0.0, 0.0, 8.0, 10.0]], np.float32)
    _, losses = rpn(images, features, [{"boxes": ember.from_numpy(gt)}])
    # Zero logits: the binary cross-entropy of every sampled anchor is log 2.
    assert losses["loss_objectness"].item() == pytest.approx(math.log(2), rel=1e-6)
    # Anchor (0, 0, 8, 8) (IoU 0.8) is the one positive; its target is (0, (5 - 4) / 8, 0, log(10 / 8)).
    cells = np.stack(np.meshgrid(np.arange(8) * 4.0, np.arange(8) * 4.0, indexing="xy"), -1).reshape(-1, 2)
    anchors = np.concatenate([cells - 4, cells + 4], axis=1)
    iou = iou_matrix(gt, anchors)[0]
    negatives = int((iou < 0.3).sum())
    assert int((iou >= 0.7).sum()) == 1
    expected = smooth_l1(np.array([0.0, 0.125, 0.0, math.log(10 / 8)])).sum() / (1 + negatives)
    assert losses["loss_rpn_box_reg"].item() == pytest.approx(expected, rel=1e-5)


def test_rpn_proposals_are_the_clipped_anchors_when_nothing_overlaps_enough() -> None:
    rpn = zero_rpn().eval()
    images = ImageList(ember.zeros(2, 1, 32, 32), [(32, 32)] * 2)
    with ember.no_grad():
        proposals, losses = rpn(images, {"0": ember.randn(2, 4, 8, 8)})
    assert losses == {} and len(proposals) == 2
    cells = np.stack(np.meshgrid(np.arange(8) * 4.0, np.arange(8) * 4.0, indexing="xy"), -1).reshape(-1, 2)
    clipped = np.clip(np.concatenate([cells - 4, cells + 4], axis=1), 0, 32)
    for boxes in proposals:  # equal scores, neighbours' IoU at most 1/2: NMS at 0.7 keeps all 64
        assert boxes.shape == (64, 4)
        assert sorted(map(tuple, boxes.array.tolist())) == sorted(map(tuple, clipped.tolist()))


def zero_roi_heads(num_classes: int = 5) -> RoIHeads:
    predictor = FastRCNNPredictor(32, num_classes)
    for layer in (predictor.cls_score, predictor.bbox_pred):
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
    pool = MultiScaleRoIAlign(["0"], output_size=7, sampling_ratio=2)
    return RoIHeads(pool, TwoMLPHead(4 * 7 * 7, 32), predictor)


def test_roi_heads_loss_on_hand_made_proposals() -> None:
    heads = zero_roi_heads().train()
    features = {"0": ember.randn(1, 4, 8, 8)}
    proposals = [ember.from_numpy(np.array([[0, 0, 8, 10], [0, 0, 16, 16], [20, 20, 30, 30]], np.float32))]
    targets = [{"boxes": ember.from_numpy(np.array([[0, 0, 8, 8]], np.float32)), "labels": ember.tensor([3])}]
    _, losses = heads(features, proposals, [(32, 32)], targets)
    # Sampled: the first proposal (IoU 0.8) and the added ground truth positive, the other two negative.
    assert losses["loss_classifier"].item() == pytest.approx(math.log(5), rel=1e-6)
    # (10, 10, 5, 5)-weighted target of (0, 0, 8, 10) -> (0, 0, 8, 8): (0, 10 * (4 - 5) / 10, 0, 5 log 0.8).
    expected = smooth_l1(np.array([0.0, -1.0, 0.0, 5 * math.log(0.8)])).sum() / 4
    assert losses["loss_box_reg"].item() == pytest.approx(expected, rel=1e-5)


def test_roi_heads_inference_rules() -> None:
    heads = zero_roi_heads(num_classes=3).eval()
    heads.box_predictor.cls_score.bias.array[:] = [0.0, 2.0, 0.0]  # class 1 most likely everywhere
    proposals = [ember.from_numpy(np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32))]
    with ember.no_grad():
        result, losses = heads({"0": ember.randn(1, 4, 8, 8)}, proposals, [(32, 32)])
    assert losses == {}
    (found,) = result
    scores = np.exp([2.0, 0.0]) / np.exp([0.0, 2.0, 0.0]).sum()
    # Per class, NMS at 0.5 drops the second box (IoU 0.68 with the first): 2 boxes x 2 classes.
    assert sorted(found["labels"].tolist()) == [1, 1, 2, 2]
    np.testing.assert_allclose(np.sort(found["scores"])[::-1], np.repeat(scores, 2), rtol=1e-6)
    assert {tuple(b) for b in found["boxes"].tolist()} == {(0, 0, 10, 10), (20, 20, 30, 30)}


def scenes_batch(count: int = 4) -> tuple[ember.Tensor, list[dict[str, ember.Tensor]]]:
    """Hand-drawn scenes: squares of different classes (boxes, labels, masks as the Scenes data set)."""
    rng = np.random.default_rng(0)
    images = np.zeros((count, 1, 64, 64), np.float32)
    targets = []
    for index in range(count):
        boxes, labels, masks = [], [], []
        for k in range(1 + index % 3):
            x, y = (int(v) for v in rng.integers(0, 40, size=2))
            side = int(rng.integers(12, 24))
            mask = np.zeros((64, 64), np.uint8)
            mask[y : y + side, x : x + side] = 1
            images[index, 0][mask > 0] = 1.0
            boxes.append([x, y, x + side, y + side])
            labels.append(1 + (index + k) % 10)
            masks.append(mask)
        targets.append(
            {
                "boxes": ember.from_numpy(np.asarray(boxes, np.float32)),
                "labels": ember.from_numpy(np.asarray(labels, np.int64)),
                "masks": ember.from_numpy(np.stack(masks)),
            }
        )
    return ember.from_numpy(images), targets


def test_mask_rcnn_training_outputs_and_gradient_flow() -> None:
    ember.manual_seed(0)
    model = maskrcnn_scenes(**SMALL).train()
    images, targets = scenes_batch()
    losses = model(images, targets)
    assert set(losses) == {
        "loss_classifier",
        "loss_box_reg",
        "loss_mask",
        "loss_objectness",
        "loss_rpn_box_reg",
    }
    assert all(v.ndim == 0 and np.isfinite(v.item()) for v in losses.values())
    assert losses["loss_classifier"].item() == pytest.approx(math.log(11), rel=0.2)
    sum(losses.values()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and np.abs(parameter.grad.array).sum() > 0, name


def test_eval_outputs_follow_torchvision() -> None:
    ember.manual_seed(0)
    images, _ = scenes_batch(3)
    for build in (fasterrcnn_scenes, maskrcnn_scenes):
        model = build(**SMALL).eval()
        with ember.no_grad():
            found = model([images[i] for i in range(3)])  # a list of (C, H, W) images works too
        assert len(found) == 3
        for detections in found:
            assert set(detections) == {"boxes", "labels", "scores"} | (
                {"masks"} if build is maskrcnn_scenes else set()
            )
            boxes, labels, scores = (detections[k].array for k in ("boxes", "labels", "scores"))
            count = len(scores)
            assert 0 < count <= 100 and boxes.shape == (count, 4) and labels.shape == (count,)
            assert boxes.dtype == np.float32 and labels.dtype == np.int64 and scores.dtype == np.float32
            assert np.all(np.diff(scores) <= 0) and np.all(scores > 0.05)
            assert np.all((labels >= 1) & (labels <= 10))
            assert np.all(boxes >= 0) and np.all(boxes <= 64) and np.all(boxes[:, 2:] >= boxes[:, :2])
            if build is maskrcnn_scenes:
                masks = detections["masks"].array
                assert masks.shape == (count, 1, 64, 64) and masks.min() >= 0 and masks.max() <= 1


def test_training_needs_targets_and_valid_boxes() -> None:
    model = fasterrcnn_scenes().train()
    images, targets = scenes_batch(2)
    with pytest.raises(DetectionInputError, match="targets are needed"):
        model(images)
    targets[1]["boxes"] = ember.from_numpy(np.array([[5, 5, 5, 9]], np.float32))
    with pytest.raises(DetectionInputError, match="target 1 has a box of no width"):
        model(images, targets)


def test_paste_masks_in_image_by_hand() -> None:
    # A 28 x 28 mask of ones in box (10, 10, 20, 20): padded to 30 x 30 by zeros, the box grown by 30 / 28
    # about its centre and truncated to (9, 9, 20, 20), 12 pixels inclusive; resizing 30 -> 12 samples the
    # padded mask at 2.5 i + 0.75, so the border pixels read 0.75 of a one and 0.25 of the zero padding.
    pasted = paste_masks_in_image(
        np.ones((1, 1, 28, 28), np.float32), np.array([[10, 10, 20, 20.0]]), (32, 32)
    )
    assert pasted.shape == (1, 1, 32, 32)
    image = pasted[0, 0]
    assert image[9, 9] == pytest.approx(0.5625) and image[9, 15] == pytest.approx(0.75)
    assert image[15, 15] == pytest.approx(1.0) and image[20, 20] == pytest.approx(0.5625)
    inside = np.zeros((32, 32), bool)
    inside[9:21, 9:21] = True
    assert np.all(image[~inside] == 0) and np.all(image[inside] > 0.5)
    assert paste_masks_in_image(np.zeros((0, 1, 28, 28)), np.zeros((0, 4)), (32, 32)).shape == (0, 1, 32, 32)


def test_paste_masks_and_fastrcnn_loss_match_torchvision() -> None:
    """torchvision's pure-Python pieces (its compiled operators do not load here): pasting masks, and the
    Fast R-CNN loss with its gradients."""
    import torch

    from ember.vision.detection.roi_heads import fastrcnn_loss

    from ..models.oracle import import_torchvision

    import_torchvision()
    from torchvision.models.detection import roi_heads as reference

    rng = np.random.default_rng(1)
    masks = rng.random((6, 1, 28, 28)).astype(np.float32)
    corner = rng.uniform(-10, 50, (6, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(1, 30, (6, 2))], axis=1).astype(np.float32)
    ours = paste_masks_in_image(masks, boxes, (64, 48))
    theirs = reference.paste_masks_in_image(torch.from_numpy(masks), torch.from_numpy(boxes), (64, 48))
    # torchvision resizes in float32 (source coordinates up to ~30 carry ~4e-6 of rounding), Ember in float64
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)

    logits = rng.standard_normal((12, 5)).astype(np.float32)
    deltas = rng.standard_normal((12, 20)).astype(np.float32)
    labels = np.array([0, 1, 4, 0, 2, 2, 0, 0, 3, 1, 0, 4])
    targets = rng.standard_normal((12, 4)).astype(np.float32)
    x, d = ember.tensor(logits, requires_grad=True), ember.tensor(deltas, requires_grad=True)
    ours_loss = fastrcnn_loss(x, d, labels, targets)
    tx, td = torch.tensor(logits, requires_grad=True), torch.tensor(deltas, requires_grad=True)
    theirs_loss = reference.fastrcnn_loss(tx, td, [torch.tensor(labels)], [torch.tensor(targets)])
    for mine, other in zip(ours_loss, theirs_loss, strict=True):
        assert mine.item() == pytest.approx(other.item(), rel=1e-5)
    (ours_loss[0] + 2 * ours_loss[1]).backward()
    (theirs_loss[0] + 2 * theirs_loss[1]).backward()
    np.testing.assert_allclose(x.grad.array, tx.grad.numpy(), atol=1e-6)
    np.testing.assert_allclose(d.grad.array, td.grad.numpy(), atol=1e-6)
