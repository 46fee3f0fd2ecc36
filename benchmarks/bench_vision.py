"""Semantic segmentation and localization on the scenes data set: train, measure on the 1,000 test scenes.

    python benchmarks/bench_vision.py segment --model fcn_unet --train 2000 --epochs 4
    python benchmarks/bench_vision.py localize --train 5000 --epochs 6

Adam (lr 1e-3), batch 32, inputs in [0, 1]; the loop is the lectures' four lines. Prints one line per epoch
and writes ``OUT/TASK-MODEL.json`` (settings, per-epoch history, test metrics, seconds, machine) and a
picture of test scenes (segmentation: image, truth, prediction; localization: predicted boxes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import ember
import ember.models
import ember.optim
from ember.nn import functional as F
from ember.vision.datasets import Scenes
from ember.vision.localization import LocalizationMetrics, localization_loss
from ember.vision.segmentation import SegmentationMetrics
from ember.viz.scenes import save_scene_grid, save_segmentation_grid

MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
if not MNIST.is_dir():  # a worktree sits elsewhere
    MNIST = Path("/work/shared/data/mnist")


def batches(count: int, size: int, rng: np.random.Generator | None = None):
    order = rng.permutation(count) if rng is not None else np.arange(count)
    for start in range(0, count, size):
        yield order[start : start + size]


def targets_of(data: Scenes, task: str) -> tuple[np.ndarray, ...]:
    if task == "segment":
        return (np.stack([s.semantic for s in data.scenes]).astype(np.int64),)
    labels = np.array([s.labels[0] - 1 for s in data.scenes], dtype=np.int64)
    return labels, np.stack([s.boxes[0] for s in data.scenes])


def loss_of(task: str, outputs, targets):
    if task == "segment":
        return F.cross_entropy(outputs, targets[0])
    return localization_loss(outputs, targets[0], targets[1])


def evaluate(task: str, model, images: np.ndarray, targets: tuple[np.ndarray, ...]):
    metrics = SegmentationMetrics(11) if task == "segment" else LocalizationMetrics()
    outputs_kept = []
    model.eval()
    with ember.no_grad():
        for index in batches(len(images), 100):
            parts = tuple(ember.tensor(t[index]) for t in targets)
            outputs = model(ember.tensor(images[index]))
            loss = loss_of(task, outputs, parts).item()
            metrics.update(outputs, *parts, loss=loss)
            outputs_kept.append(outputs)
    model.train()
    return metrics.compute(), outputs_kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["segment", "localize"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=0, help="measure the test set every N epochs")
    parser.add_argument("--out", default="runs/vision")
    args = parser.parse_args()
    model_name = args.model or ("fcn_unet" if args.task == "segment" else "localizer")
    target_type = "semantic" if args.task == "segment" else "localization"
    started = time.perf_counter()
    train = Scenes(MNIST, train=True, size=args.train, target_type=target_type)
    test = Scenes(MNIST, train=False, size=args.test, target_type=target_type)
    data_seconds = time.perf_counter() - started
    ember.manual_seed(0)
    model = ember.models.create(model_name)
    optimizer = ember.optim.Adam(model.parameters(), lr=args.lr)
    images, targets = train.images, targets_of(train, args.task)
    test_images, test_targets = test.images, targets_of(test, args.task)
    rng = np.random.default_rng(0)
    history = []
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        total, count = 0.0, 0
        for index in batches(len(images), args.batch, rng):
            parts = tuple(ember.tensor(t[index]) for t in targets)
            loss = loss_of(args.task, model(ember.tensor(images[index])), parts)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(index), count + len(index)
        record = {"epoch": epoch, "train_loss": total / count}
        if args.eval_every and epoch % args.eval_every == 0:
            record.update(evaluate(args.task, model, test_images, test_targets)[0].as_dict("test_"))
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        print(
            json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}), flush=True
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"{args.task}-{model_name}"
    result, outputs = evaluate(args.task, model, test_images, test_targets)
    if args.task == "segment":
        predicted = np.concatenate([o.array.argmax(axis=1) for o in outputs])
        save_segmentation_grid(out / f"{name}.png", test_images, test_targets[0], predicted, count=10)
        extra = {"iou_per_class": [round(float(v), 4) for v in result.iou]}
    else:
        scores = np.concatenate([o[0].array for o in outputs])
        boxes = np.concatenate([o[1].array for o in outputs]) * 64
        chosen = range(16)
        drawn = [{"boxes": boxes[k : k + 1], "labels": [scores[k].argmax() + 1]} for k in chosen]
        titles = [f"truth {test.classes[test_targets[0][k]][0]}" for k in chosen]
        save_scene_grid(
            out / f"{name}.png", [test_images[k] for k in chosen], drawn, test.classes, titles=titles
        )
        extra = {}
    report = {
        "task": args.task,
        "model": model_name,
        "train_scenes": args.train,
        "test_scenes": args.test,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "parameters": sum(int(p.array.size) for p in model.parameters()),
        "history": history,
        "test": {**result.as_dict(), **extra},
        "train_seconds": round(time.perf_counter() - started, 1),
        "data_seconds": round(data_seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
    }
    (out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["test"]), f"{report['train_seconds']} s")


if __name__ == "__main__":
    main()
