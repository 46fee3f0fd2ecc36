"""Ember's ``fasterrcnn_scenes`` against torchvision's ``FasterRCNN`` built the same way, at the same weights.

Run it in the environment that makes the fixtures (torchvision's compiled operators load there), with Ember
on the path:

    PYTHONPATH=src /work/tvenv/bin/python scripts/detection_parity.py [WEIGHTS.npz]

``WEIGHTS.npz``: a trained model's state dict as arrays (written in Ember's environment from a run, e.g.
``np.savez(path, **{k: v.array for k, v in load_trained(run)[1].state_dict().items()})``); without it, a
fresh model. torchvision's transform is made a no-op (``min_size = max_size = 64``, mean 0, std 1).
Every anchor and every proposal is taken as a training sample (batch sizes beyond their counts, positive
fraction 1), so that neither side samples at random and the two training steps are the same function:
the script prints both sides' four losses, the largest relative difference of each parameter's gradient
(again with torchvision's proposals fed to both RoI heads: at fresh weights the objectness logits tie over
the blank canvas and the two sides keep different proposals among the tied anchors), in eval mode the
detections of 16 test scenes (their counts, best scores, box differences), and then eight training steps
of ``ember train``'s optimizer and schedule on both sides (the losses, the parameters' largest difference).
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import MultiScaleRoIAlign

import ember
from ember import optim
from ember.optim import lr_scheduler
from ember.vision.datasets import Scenes
from ember.vision.detection.faster_rcnn import SCENES_ANCHORS, fasterrcnn_scenes

MNIST = "/work/shared/data/mnist"
EVERY_SAMPLE = {
    "rpn_batch_size_per_image": 100_000,
    "rpn_positive_fraction": 1.0,
    "box_batch_size_per_image": 100_000,
    "box_positive_fraction": 1.0,
    "rpn_pre_nms_top_n_train": 300,
    "rpn_post_nms_top_n_train": 300,
}


def torchvision_twin(**options: object) -> FasterRCNN:
    """torchvision's ``FasterRCNN`` built as ``fasterrcnn_scenes`` (its transform a no-op); ``options``
    (torchvision's ``rpn_*`` / ``box_*``) replace the every-sample settings."""
    layers: list[nn.Module] = []
    for index, stride in enumerate((1, 2, 1, 2)):
        channels = 1 if index == 0 else 64
        layers += [
            nn.Conv2d(channels, 64, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
        ]
    backbone = nn.Sequential(*layers)
    backbone.out_channels = 64
    return FasterRCNN(
        backbone,
        None,
        min_size=64,
        max_size=64,
        image_mean=[0.0],
        image_std=[1.0],
        rpn_anchor_generator=AnchorGenerator(SCENES_ANCHORS["sizes"], SCENES_ANCHORS["aspect_ratios"]),
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
        box_head=TwoMLPHead(64 * 49, 256),
        box_predictor=FastRCNNPredictor(256, 11),
        **{**EVERY_SAMPLE, **options},
    )


def their_name(name: str) -> str:
    return name.replace("rpn.head.conv.0.", "rpn.head.conv.0.0.")  # torchvision's Conv2dNormActivation


def same_proposal_gradients(
    ours: torch.nn.Module, theirs: FasterRCNN, images: np.ndarray, targets: list, their_targets: list
) -> None:
    """The training step again, both RoI heads fed torchvision's proposals: at fresh weights the objectness
    logits tie exactly over the blank canvas (identical features), so the proposals kept among tied anchors
    (Ember's stable sort vs torch's ``topk``, NMS among equal scores) differ, and so do a few RoIs."""
    our_list = ours.batch_images(ember.from_numpy(images))
    our_features = {"0": ours.backbone(our_list.tensors)}
    our_proposals, our_rpn = ours.rpn(our_list, our_features, targets)
    their_list = ImageList(torch.from_numpy(images), list(our_list.image_sizes))
    their_features = {"0": theirs.backbone(their_list.tensors)}
    their_proposals, their_rpn = theirs.rpn(their_list, their_features, their_targets)
    logits = theirs.rpn.head([their_features["0"]])[0][0].detach().numpy().ravel()
    print(f"objectness logits: {len(np.unique(logits))} distinct values among {logits.size} anchors")
    for a, b in zip(our_proposals, their_proposals, strict=True):
        ours_set = {tuple(r) for r in np.round(a.array, 3)}
        theirs_set = {tuple(r) for r in np.round(b.detach().numpy(), 3)}
        print(f"proposals {len(a)} / {len(b)}, {len(ours_set ^ theirs_set)} boxes in one only")
    proposals = [b.detach() for b in their_proposals]
    _, our_heads = ours.roi_heads(
        our_features, [ember.from_numpy(b.numpy()) for b in proposals], our_list.image_sizes, targets
    )
    _, their_heads = theirs.roi_heads(their_features, proposals, their_list.image_sizes, their_targets)
    compare(ours, theirs, {**our_rpn, **our_heads}, {**their_rpn, **their_heads})


def compare(ours: torch.nn.Module, theirs: FasterRCNN, our_losses: dict, their_losses: dict) -> None:
    """Both sides' losses, then each parameter's largest gradient difference over its largest value."""
    for key in sorted(our_losses):
        print(f"{key:18} ember {our_losses[key].item():.6f}  torchvision {their_losses[key].item():.6f}")
    ours.zero_grad()
    theirs.zero_grad()
    sum(our_losses.values()).backward()
    sum(their_losses.values()).backward()
    their_parameters = dict(theirs.named_parameters())
    worst = (0.0, "")
    for name, parameter in ours.named_parameters():
        a, b = parameter.grad.array, their_parameters[their_name(name)].grad.numpy()
        relative = float(np.abs(a - b).max() / np.abs(b).max())
        worst = max(worst, (relative, name))
        print(f"{name:40} gradient: largest difference / largest value {relative:.1e}")
    print(f"largest: {worst[0]:.1e} ({worst[1]})")


def train_both(ours: torch.nn.Module, theirs: FasterRCNN, steps: int = 8, batch: int = 4) -> None:
    """``ember train --task detect``'s optimizer and schedule on both sides, step by step on new scenes:
    the losses and the largest parameter and buffer differences (relative to their largest values)."""
    our_optimizer = optim.SGD(ours.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    their_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    schedules = (
        lr_scheduler.OneCycleLR(our_optimizer, max_lr=0.02, total_steps=steps),
        torch.optim.lr_scheduler.OneCycleLR(their_optimizer, max_lr=0.02, total_steps=steps),
    )
    scenes = Scenes(MNIST, size=4 + steps * batch)
    their_parameters, their_buffers = dict(theirs.named_parameters()), dict(theirs.named_buffers())
    for step in range(steps):
        indices = range(4 + step * batch, 4 + (step + 1) * batch)
        targets = [scenes.target(i) for i in indices]
        images = scenes.images[indices.start : indices.stop]
        our_loss = sum(ours(ember.from_numpy(images), targets).values())
        their_loss = sum(theirs(list(torch.from_numpy(images)), torch_targets(targets)).values())
        for optimizer, loss in ((our_optimizer, our_loss), (their_optimizer, their_loss)):
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        for schedule in schedules:
            schedule.step()
        theirs_now = {k: v.detach().numpy() for k, v in {**their_parameters, **their_buffers}.items()}
        gaps = [
            np.abs(np.asarray(v.array, np.float64) - theirs_now[their_name(k)]).max()
            / np.abs(theirs_now[their_name(k)]).max()
            for k, v in [*ours.named_parameters(), *ours.named_buffers()]
            if np.abs(theirs_now[their_name(k)]).max() > 0
        ]
        print(
            f"step {step + 1}: loss ember {our_loss.item():.5f} torchvision {their_loss.item():.5f}, "
            f"largest parameter or buffer difference {max(gaps):.1e}"
        )


def torch_targets(targets: list) -> list:
    return [
        {
            "boxes": torch.from_numpy(np.asarray(t["boxes"], np.float32)),
            "labels": torch.from_numpy(np.asarray(t["labels"], np.int64)),
        }
        for t in targets
    ]


def main() -> None:
    torch.set_num_threads(1)
    ember.manual_seed(0)
    ours, theirs = fasterrcnn_scenes(**EVERY_SAMPLE), torchvision_twin()
    if len(sys.argv) > 1:
        saved = np.load(sys.argv[1])
        ours.load_state_dict({key: ember.from_numpy(saved[key]) for key in saved.files})
    theirs.load_state_dict(
        {their_name(k): torch.from_numpy(np.array(v.array)) for k, v in ours.state_dict().items()}
    )
    scenes = Scenes(MNIST, size=4)
    targets = [scenes.target(i) for i in range(4)]
    ours.train()
    theirs.train()
    their_targets = torch_targets(targets)
    print("the whole training step:")
    compare(
        ours,
        theirs,
        ours(ember.from_numpy(scenes.images), targets),
        theirs(list(torch.from_numpy(scenes.images)), their_targets),
    )
    print("the RoI heads fed torchvision's proposals:")
    same_proposal_gradients(ours, theirs, scenes.images, targets, their_targets)
    ours.eval()
    theirs.eval()
    test = Scenes(MNIST, train=False, size=16)
    with ember.no_grad():
        our_found = ours(ember.from_numpy(test.images))
    with torch.no_grad():
        their_found = theirs(list(torch.from_numpy(test.images)))
    worst = 0.0
    for a, b in zip(our_found, their_found, strict=True):
        scores, boxes = (getattr(a[key], "array", a[key]) for key in ("scores", "boxes"))
        print(
            f"detections {len(scores)} / {len(b['scores'])}, best scores",
            scores[:3].round(4),
            b["scores"][:3].numpy().round(4),
        )
        n = min(len(scores), len(b["scores"]), 5)
        worst = max(worst, float(np.abs(boxes[:n] - b["boxes"][:n].numpy()).max(initial=0.0)))
    print(f"largest box difference among the best 5 per scene: {worst:.2g} pixels")
    print("eight training steps, SGD (momentum 0.9, weight decay 5e-4) and one-cycle on both sides:")
    ours.train()
    theirs.train()
    train_both(ours, theirs)


if __name__ == "__main__":
    main()
