"""The YOLO v1-style grid detector on the scenes: train, measure on the 1,000 test scenes, and time a
training step against the same network and loss in PyTorch.

    python benchmarks/bench_detection.py --train 5000 --epochs 8
    python benchmarks/bench_detection.py --train 512 --epochs 2 --test 200   # a quick look

Ember trains ``yolo`` (zoo) with Adam (lr 1e-3, constant), batch 32, inputs in [0, 1], in a plain loop
(``ember train --task detect`` is the training system's way, for the two-stage detectors); after each
epoch the training loss and the elapsed time, at the end COCO mAP@0.5 and mAP (``DetectionMetrics``) on
the test scenes, the training and inference throughput (images/s), and a picture of test scenes with the
predictions (score >= 0.3) in ``OUT/yolo.png``. Then ``--steps`` training steps of the same network in
Ember and in PyTorch (same architecture, same loss, same batches, one thread each, interleaved), median
step times and their ratio. The report goes to ``OUT/detection-yolo.json``.
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
from ember.vision.datasets import Scenes
from ember.vision.detection import DetectionMetrics, yolo_loss
from ember.vision.detection.yolo import LAMBDA_COORD, LAMBDA_NOOBJ, build_targets, decode

MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
if not MNIST.is_dir():  # a worktree sits elsewhere
    MNIST = Path("/work/shared/data/mnist")
BATCH = 32


def evaluate(model, test: Scenes) -> tuple[dict, float, list]:
    model.eval()
    metrics, predictions = DetectionMetrics(), []
    start = time.perf_counter()
    with ember.no_grad():
        for first in range(0, len(test), 100):
            batch = decode(model(ember.from_numpy(test.images[first : first + 100])))
            predictions += batch
            metrics.update(batch, [test.target(i) for i in range(first, min(first + 100, len(test)))])
    seconds = time.perf_counter() - start
    model.train()
    return metrics.compute(), len(test) / seconds, predictions


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
    import torch

    torch.set_num_threads(1)
    twin = torch_twin(model)
    ours = ember.optim.Adam(model.parameters(), lr=1e-3)
    theirs = torch.optim.Adam(twin.parameters(), lr=1e-3)
    targets = [train.target(i) for i in range(BATCH)]
    images = train.images[:BATCH]
    times: dict[str, list[float]] = {"ember": [], "pytorch": []}
    with ember.no_grad():  # the twin is the same function: the same loss at the same weights
        first = yolo_loss(model(ember.from_numpy(images)), targets).item()
    with torch.no_grad():
        twin_first = torch_loss(twin(torch.from_numpy(images)).permute(0, 2, 3, 1), targets).item()

    def ember_step() -> None:
        loss = yolo_loss(model(ember.from_numpy(images)), targets)
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
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per framework (0: none)")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ember.manual_seed(0)
    train = Scenes(MNIST, size=args.train)
    test = Scenes(MNIST, train=False, size=args.test)
    model = ember.models.create("yolo")
    optimizer = ember.optim.Adam(model.parameters(), lr=args.lr)
    images, targets = train.images, [train.target(i) for i in range(len(train))]
    rng = np.random.default_rng(0)
    history, start = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        losses = []
        for batch in np.array_split(rng.permutation(len(train)), max(1, len(train) // BATCH)):
            loss = yolo_loss(model(ember.from_numpy(images[batch])), [targets[i] for i in batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.append(
            {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - start}
        )
        print(json.dumps(history[-1]), flush=True)
    train_seconds = time.perf_counter() - start
    result, inference, predictions = evaluate(model, test)
    shown = [{k: v.array[p["scores"].array >= 0.3] for k, v in p.items()} for p in predictions[:16]]
    try:
        from ember.viz.scenes import save_scene_grid

        save_scene_grid(args.out / "yolo.png", test.images[:16], shown, train.classes)
    except ImportError:  # matplotlib is the train extra's
        pass
    report = {
        "model": "yolo",
        "parameters": sum(p.numel() for p in model.parameters()),
        "settings": vars(args) | {"out": str(args.out), "batch": BATCH},
        "history": history,
        "test": {"map_50": result["map_50"], "map": result["map"], "map_75": result["map_75"]},
        "train_images_per_s": args.train * args.epochs / train_seconds,
        "inference_images_per_s": inference,
        "seconds": round(train_seconds, 1),
        "step": step_times(model, train, args.steps) if args.steps else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
    }
    (args.out / "detection-yolo.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        json.dumps({k: report[k] for k in ("test", "train_images_per_s", "inference_images_per_s", "step")})
    )


if __name__ == "__main__":
    main()
