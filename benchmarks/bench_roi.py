"""RoI align and RoI pooling: Ember against torchvision's C++ kernels, forward and backward, in one process.

torchvision's compiled operators do not load beside the test environment's torch build; run this where they
do, e.g. the environment that makes the fixtures (``scripts/make_detection_fixtures.py``), with Ember on the
path:

    PYTHONPATH=src /work/tvenv/bin/python benchmarks/bench_roi.py

The setting is a Faster R-CNN step on the scenes: 16 images, a 64-channel feature map at stride 4
(16 x 16), 512 RoIs per image of sides 4-30 pixels, 7 x 7 outputs. Medians of ``--repeats`` interleaved runs
(one thread each), and the ratio Ember / torchvision.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from torchvision import ops as tv_ops

import ember
from ember.vision import ops

CASES = [
    ("roi_align aligned, sampling_ratio 2", "roi_align", {"sampling_ratio": 2, "aligned": True}),
    ("roi_align adaptive", "roi_align", {"sampling_ratio": -1, "aligned": False}),
    ("roi_pool", "roi_pool", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    features = rng.standard_normal((16, 64, 16, 16)).astype(np.float32)
    corner = rng.uniform(-4, 60, (16 * 512, 2))
    sides = rng.uniform(4, 30, (len(corner), 2))
    index = rng.integers(0, 16, (len(corner), 1))
    rois = np.concatenate([index, corner, corner + sides], axis=1).astype(np.float32)
    upstream = rng.standard_normal((len(rois), 64, 7, 7)).astype(np.float32)
    rows = []
    for title, name, options in CASES:
        times: dict[str, list[float]] = {"ember": [], "torchvision": []}

        def run_ember(name: str = name, options: dict = options) -> None:
            x = ember.tensor(features, requires_grad=True)
            out = getattr(ops, name)(x, ember.from_numpy(rois), 7, 0.25, **options)
            out.backward(ember.from_numpy(upstream))

        def run_torch(name: str = name, options: dict = options) -> None:
            x = torch.from_numpy(features).requires_grad_(True)
            out = getattr(tv_ops, name)(x, torch.from_numpy(rois), 7, 0.25, **options)
            out.backward(torch.from_numpy(upstream))

        for repeat in range(args.repeats + 1):
            pair = [("ember", run_ember), ("torchvision", run_torch)]
            for key, run in pair if repeat % 2 else pair[::-1]:
                start = time.perf_counter()
                run()
                if repeat:  # the first is a warm-up
                    times[key].append(time.perf_counter() - start)
        ours, theirs = statistics.median(times["ember"]), statistics.median(times["torchvision"])
        rows.append({"case": title, "ember_s": ours, "torchvision_s": theirs, "ratio": ours / theirs})
        print(f"{title:40s} ember {ours:.3f} s  torchvision {theirs:.3f} s  ratio {ours / theirs:.2f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
