"""The detectors on the scenes side by side (the lectures' trade-off: a single-shot grid detector against a
two-stage one, speed against accuracy), and the grid detector's training step against PyTorch's.

Train the detectors first with ``ember train`` (docs/vision.md has the commands), then, at one thread:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \\
      python benchmarks/bench_detection.py runs/yolo runs/frcnn

For each run: the test box mAP@0.5 and mAP and the training's wall time (its ``summary.json``; a zoo name
instead of a run is timed with its fresh weights), and, measured
here in one process on the same scenes at the same batch size (``--batch``, 16): training images per second
(``--steps`` SGD steps from the run's weights, after a warm-up step) and inference images per second (the
first ``--images`` test scenes in eval mode, detections decoded). Then, for a ``yolo`` run, ``--twin-steps``
training steps of the same network in Ember and in PyTorch (same architecture, same loss, same batches, one
thread each, interleaved): median step times and their ratio. The report goes to
``OUT/detection.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import ember
import ember.models
import ember.optim
import ember.vision
from ember.train.recipes import load_trained
from ember.vision.datasets import Scenes
from ember.vision.detection import yolo_loss
from ember.vision.detection.yolo import LAMBDA_COORD, LAMBDA_NOOBJ, build_targets

MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
if not MNIST.is_dir():  # a worktree sits elsewhere
    MNIST = Path("/work/shared/data/mnist")
TWIN_BATCH = 32


def throughput(model, train: Scenes, test: Scenes, batch: int, steps: int, images: int) -> dict:
    """Training and inference images per second of a detector, at ``batch`` images a step."""
    targets = [train.target(i) for i in range(batch)]
    inputs = ember.from_numpy(train.images[:batch])
    optimizer = ember.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    model.train()
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        loss = sum(model(inputs, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step:  # the first is a warm-up
            times.append(time.perf_counter() - start)
    model.eval()
    with ember.no_grad():
        model(ember.from_numpy(test.images[:batch]))  # warm-up
        start = time.perf_counter()
        for first in range(0, images, batch):
            model(ember.from_numpy(test.images[first : min(first + batch, images)]))
        inference = time.perf_counter() - start
    return {
        "train_step_s": statistics.median(times),
        "train_images_per_s": batch / statistics.median(times),
        "inference_images_per_s": images / inference,
    }


def torch_twin(model):
    """The same network in PyTorch, with Ember's initial weights."""
    import torch
    from torch import nn

    layers = []
    for module in model.features:
        kind = type(module).__name__
        if kind == "Conv2d":
            layers.append(nn.Conv2d(module.in_channels, module.out_channels, 3, padding=1, bias=False))
        elif kind == "BatchNorm2d":
            layers.append(nn.BatchNorm2d(module.num_features))
        elif kind == "LeakyReLU":
            layers.append(nn.LeakyReLU(0.1))
        else:
            layers.append(nn.MaxPool2d(2))
    twin = nn.Sequential(*layers, nn.Conv2d(model.head.in_channels, model.head.out_channels, 1))
    state = {
        k.replace("features.", "").replace("head.", f"{len(layers)}."): v
        for k, v in model.state_dict().items()
    }
    twin.load_state_dict({k: torch.from_numpy(np.array(v.array)) for k, v in state.items()})
    return twin


def torch_loss(output, targets, boxes_per_cell: int = 2):
    """``yolo_loss`` written in PyTorch (for the timing only)."""
    import torch

    from ember.vision.detection.yolo import to_corners

    n, rows, cols, channels = output.shape
    split = boxes_per_cell * 5
    raw = output[..., :split].reshape(n, rows, cols, boxes_per_cell, 5).sigmoid()
    boxes, confidence = raw[..., :4], raw[..., 4]
    probabilities = output[..., split:].softmax(-1)
    present, coords, classes, truth = build_targets(targets, (rows, cols), channels - split, (64, 64))
    predicted = to_corners(boxes.detach().numpy().astype(np.float64), (64, 64))
    lo = np.maximum(predicted[..., :2], truth[:, :, :, None, :2])
    hi = np.minimum(predicted[..., 2:], truth[:, :, :, None, 2:])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    overlap = inter / np.maximum(area(predicted) + area(truth)[..., None] - inter, 1e-9)
    responsible = (np.arange(boxes_per_cell) == overlap.argmax(-1)[..., None]) & present[..., None]
    weight = torch.from_numpy(responsible.astype(np.float32))
    coord = (((boxes - torch.from_numpy(coords)[:, :, :, None]) ** 2).sum(-1) * weight).sum()
    obj = (((confidence - torch.from_numpy(overlap.astype(np.float32))) ** 2) * weight).sum()
    empty = ((confidence**2) * (1 - weight)).sum()
    cls = (
        ((probabilities - torch.from_numpy(classes)) ** 2).sum(-1)
        * torch.from_numpy(present.astype(np.float32))
    ).sum()
    return (LAMBDA_COORD * coord + obj + LAMBDA_NOOBJ * empty + cls) / n


def step_times(model, train: Scenes, steps: int) -> dict:
    """Median training-step times of ``model`` (a YOLO) in Ember and of its PyTorch twin, batch 32."""
    import torch

    torch.set_num_threads(1)
    twin = torch_twin(model)
    ours = ember.optim.Adam(model.parameters(), lr=1e-3)
    theirs = torch.optim.Adam(twin.parameters(), lr=1e-3)
    targets = [train.target(i) for i in range(TWIN_BATCH)]
    images = train.images[:TWIN_BATCH]
    times: dict[str, list[float]] = {"ember": [], "pytorch": []}
    model.train()
    with ember.no_grad():  # the twin is the same function: the same loss at the same weights
        first = yolo_loss(model.grid(ember.from_numpy(images)), targets).item()
    with torch.no_grad():
        twin_first = torch_loss(twin(torch.from_numpy(images)).permute(0, 2, 3, 1), targets).item()

    def ember_step() -> None:
        loss = sum(model(ember.from_numpy(images), targets).values())
        ours.zero_grad()
        loss.backward()
        ours.step()

    def torch_step() -> None:
        loss = torch_loss(twin(torch.from_numpy(images)).permute(0, 2, 3, 1), targets)
        theirs.zero_grad()
        loss.backward()
        theirs.step()

    for step in range(steps + 1):
        order = [("ember", ember_step), ("pytorch", torch_step)]
        for name, run in order if step % 2 else order[::-1]:
            start = time.perf_counter()
            run()
            if step:  # the first is a warm-up
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "ember_step_s": medians["ember"],
        "pytorch_step_s": medians["pytorch"],
        "ratio": medians["ember"] / medians["pytorch"],
        "loss_ember_pytorch": [first, twin_first],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs", nargs="+", type=Path, help="ember train --task detect run directories (zoo names: timed only)"
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per detector")
    parser.add_argument("--images", type=int, default=320, help="test scenes timed in inference")
    parser.add_argument("--twin-steps", type=int, default=10, help="timed YOLO steps per framework (0: none)")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ember.manual_seed(0)
    train = Scenes(MNIST, size=max(args.batch, TWIN_BATCH))
    test = Scenes(MNIST, train=False, size=args.images)
    rows = []
    for run in args.runs:
        row: dict = {"run": str(run)}
        if run.is_dir():
            config, model, _, _ = load_trained(run)
            summary = json.loads((run / "summary.json").read_text())
            name = row["model"] = config.model
            row["test"] = {k: summary["test"][k] for k in ("map50", "map", "map75")}
            row |= {"training_seconds": summary["seconds"], "epochs": summary["epochs"]}
        else:  # a zoo name: its fresh weights, timed only (no mAP)
            name = row["model"] = str(run)
            model = ember.models.create(name)
        row["parameters"] = sum(p.numel() for p in model.parameters())
        row |= throughput(model, train, test, args.batch, args.steps, args.images)
        if name == "yolo" and args.twin_steps:
            row["pytorch_twin"] = step_times(model, train, args.twin_steps)
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {
        "settings": vars(args) | {"threads": os.environ.get("OMP_NUM_THREADS", "unset")},
        "detectors": rows,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
    }
    (args.out / "detection.json").write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
