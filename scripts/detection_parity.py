"""Ember's ``fasterrcnn_scenes`` against torchvision's ``FasterRCNN`` built the same way, at the same weights.

Run it in the environment that makes the fixtures (torchvision's compiled operators load there), with Ember
on the path:

    PYTHONPATH=src /work/tvenv/bin/python scripts/detection_parity.py [WEIGHTS.npz]

``WEIGHTS.npz``: a trained model's state dict as arrays (written in Ember's environment from a run, e.g.
``np.savez(path, **{k: v.array for k, v in load_trained(run)[1].state_dict().items()})``); without it, a
fresh model. torchvision's transform is made a no-op (``min_size = max_size = 64``, mean 0, std 1).
Every anchor and every proposal is taken as a training sample (batch sizes beyond their counts, positive
fraction 1), so that neither side samples at random and the two training steps are the same function:
the script prints both sides' four losses, the largest relative difference of each parameter's gradient,
and, in eval mode, the detections of 16 test scenes (their counts, best scores, box differences).
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

import ember
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


def torchvision_twin() -> FasterRCNN:
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
        **EVERY_SAMPLE,
    )


def their_name(name: str) -> str:
    return name.replace("rpn.head.conv.0.", "rpn.head.conv.0.0.")  # torchvision's Conv2dNormActivation


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
    our_losses = ours(ember.from_numpy(scenes.images), targets)
    their_targets = [
        {
            "boxes": torch.from_numpy(np.asarray(t["boxes"], np.float32)),
            "labels": torch.from_numpy(t["labels"]),
        }
        for t in targets
    ]
    their_losses = theirs(list(torch.from_numpy(scenes.images)), their_targets)
    for key in sorted(our_losses):
        print(f"{key:18} ember {our_losses[key].item():.6f}  torchvision {their_losses[key].item():.6f}")
    sum(our_losses.values()).backward()
    sum(their_losses.values()).backward()
    their_parameters = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        a, b = parameter.grad.array, their_parameters[their_name(name)].grad.numpy()
        relative = np.abs(a - b).max() / np.abs(b).max()
        print(f"{name:40} gradient: largest difference / largest value {relative:.1e}")
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


if __name__ == "__main__":
    main()
