"""Write the detection reference fixtures (tests/vision/fixtures/*.npz) from torchvision's own code.

torchvision's compiled operators (``roi_align``, ``roi_pool``) do not load beside the test environment's
torch build, so the references are made once, in a separate environment, and committed:

    python3 -m venv /work/tvenv
    /work/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/tvenv/bin/python scripts/make_detection_fixtures.py

It writes:
- ``roi_ops.npz``: ``roi_align`` and ``roi_pool`` (torchvision's C++ CPU kernels) on random features and
  RoIs inside, partly outside and wholly outside the map, tiny and inverted ones, for several output sizes,
  spatial scales, sampling ratios and both ``aligned``: the outputs and the input gradients for a random
  upstream gradient.
- ``anchors.npz``: ``AnchorGenerator`` anchors for one- and two-level settings (odd sizes, where rounding
  to even matters) on square and non-square images.
- ``matcher.npz``: IoU matrices (gt x proposals) and ``Matcher``'s matches for several thresholds, with and
  without low-quality matches.
Everything is seeded; running it again gives the same files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.models.detection._utils import Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import box_iou, roi_align, roi_pool

OUT = Path(__file__).resolve().parents[1] / "tests" / "vision" / "fixtures"

# (output_size, spatial_scale, sampling_ratio, aligned)
ALIGN_SETTINGS = [
    ((2, 2), 1.0, -1, False),
    ((3, 3), 0.5, 2, True),
    ((7, 7), 0.25, 0, False),
    ((2, 3), 0.5, -1, True),
    ((4, 4), 1.0, 1, False),
    ((5, 4), 0.125, -1, False),
]
POOL_SETTINGS = [((2, 2), 1.0), ((3, 3), 0.5), ((2, 3), 0.25), ((7, 7), 1.0), ((4, 5), 0.5)]
# (sizes, aspect_ratios, image (h, w), feature map sizes)
ANCHOR_SETTINGS = [
    (((12, 20, 32),), ((0.5, 1.0, 2.0),), (64, 64), [(16, 16)]),
    (((13, 27),), ((0.5, 1.0, 2.0, 3.0),), (60, 80), [(15, 20)]),
    (((16,), (33,)), ((0.5, 1.0, 2.0), (0.25, 1.0)), (64, 48), [(8, 6), (4, 3)]),
]
# (high_threshold, low_threshold, allow_low_quality_matches)
MATCHER_SETTINGS = [(0.7, 0.3, True), (0.7, 0.3, False), (0.5, 0.5, False), (0.5, 0.4, True)]


def random_rois(rng: np.random.Generator, images: int, extent: tuple[float, float]) -> np.ndarray:
    """(K, 5) RoIs in image coordinates: inside, partly and wholly outside, tiny, inverted, integer."""
    height, width = extent
    count = 10
    x1 = rng.uniform(-0.3 * width, 1.1 * width, count)
    y1 = rng.uniform(-0.3 * height, 1.1 * height, count)
    boxes = np.stack(
        [x1, y1, x1 + rng.uniform(0.5, 0.8 * width, count), y1 + rng.uniform(0.5, 0.8 * height, count)], 1
    )
    special = np.array(
        [
            [2.0, 3.0, 14.0, 11.0],  # integers: roi_pool's rounding of x.5 after scaling
            [5.0, 7.0, 9.0, 13.0],
            [width + 3.0, 1.0, width + 9.0, 6.0],  # wholly right of the map
            [-9.0, -8.0, -2.5, -1.5],  # wholly above and left
            [4.2, 4.4, 4.5, 4.6],  # smaller than a cell
            [10.0, 9.0, 6.0, 3.0],  # inverted
            [-0.7, -0.4, width + 0.6, height + 0.9],  # the whole map and a little more
        ]
    )
    boxes = np.concatenate([boxes, special])
    batch = rng.integers(0, images, len(boxes)).astype(np.float64)
    return np.concatenate([batch[:, None], boxes], axis=1).astype(np.float32)


def roi_fixtures(rng: np.random.Generator) -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {}
    x = rng.standard_normal((2, 3, 10, 12)).astype(np.float32)
    data["x"] = x
    for index, (size, scale, ratio, aligned) in enumerate(ALIGN_SETTINGS):
        rois = random_rois(rng, 2, (10 / scale, 12 / scale))
        features = torch.from_numpy(x).requires_grad_(True)
        out = roi_align(features, torch.from_numpy(rois), size, scale, ratio, aligned)
        upstream = rng.standard_normal(tuple(out.shape)).astype(np.float32)
        out.backward(torch.from_numpy(upstream))
        data[f"align{index}_rois"] = rois
        data[f"align{index}_out"] = out.detach().numpy()
        data[f"align{index}_upstream"] = upstream
        data[f"align{index}_grad"] = features.grad.numpy()
    for index, (size, scale) in enumerate(POOL_SETTINGS):
        rois = random_rois(rng, 2, (10 / scale, 12 / scale))
        features = torch.from_numpy(x).requires_grad_(True)
        out = roi_pool(features, torch.from_numpy(rois), size, scale)
        upstream = rng.standard_normal(tuple(out.shape)).astype(np.float32)
        out.backward(torch.from_numpy(upstream))
        data[f"pool{index}_rois"] = rois
        data[f"pool{index}_out"] = out.detach().numpy()
        data[f"pool{index}_upstream"] = upstream
        data[f"pool{index}_grad"] = features.grad.numpy()
    data["align_settings"] = np.array(json.dumps(ALIGN_SETTINGS))
    data["pool_settings"] = np.array(json.dumps(POOL_SETTINGS))
    return data


def anchor_fixtures() -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {}
    for index, (sizes, ratios, image, maps) in enumerate(ANCHOR_SETTINGS):
        generator = AnchorGenerator(sizes, ratios)
        images = ImageList(torch.zeros(2, 1, *image), [image, image])
        features = [torch.zeros(2, 4, *size) for size in maps]
        anchors = generator(images, features)
        assert torch.equal(anchors[0], anchors[1])
        data[f"anchors{index}"] = anchors[0].numpy()
        data[f"anchors{index}_per_location"] = np.array(generator.num_anchors_per_location())
    data["settings"] = np.array(json.dumps(ANCHOR_SETTINGS))
    return data


def matcher_fixtures(rng: np.random.Generator) -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {}
    for case in range(3):
        gt = rng.uniform(0, 48, (4, 2))
        gt = np.concatenate([gt, gt + rng.uniform(6, 16, (4, 2))], 1)
        corner = rng.uniform(-8, 60, (60, 2))
        proposals = np.concatenate([corner, corner + rng.uniform(4, 20, (60, 2))], 1)
        if case == 2:  # a ground-truth box that no proposal touches: the low-quality rule's corner case
            gt[0] = [200, 200, 210, 210]
        iou = box_iou(torch.from_numpy(gt).float(), torch.from_numpy(proposals).float())
        data[f"iou{case}"] = iou.numpy()
        for index, (high, low, allow) in enumerate(MATCHER_SETTINGS):
            data[f"matches{case}_{index}"] = Matcher(high, low, allow)(iou.clone()).numpy()
    data["settings"] = np.array(json.dumps(MATCHER_SETTINGS))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    rng = np.random.default_rng(19)
    versions = np.array(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    for name, data in [
        ("roi_ops", roi_fixtures(rng)),
        ("anchors", anchor_fixtures()),
        ("matcher", matcher_fixtures(rng)),
    ]:
        path = args.out / f"{name}.npz"
        np.savez_compressed(path, versions=versions, **data)
        print(f"{path}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
