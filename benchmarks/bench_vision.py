"""Semantic segmentation and localization on the scenes data set: train, measure on the 1,000 test scenes.

    python benchmarks/bench_vision.py segment --model fcn_unet --train 2000 --epochs 4
    python benchmarks/bench_vision.py localize --train 5000 --epochs 6

The training system's run (``ember train --task TASK --dataset scenes``: Adam, lr 1e-3, batch 32, a constant
rate unless ``--schedule`` names another (``cosine``: per step down to 0 over the run),
inputs in [0, 1], ``--val`` more scenes held out to choose the best epoch) in ``OUT/TASK-MODEL/``, with its
report (``report/predicted_masks.png``: image, truth, prediction; ``report/predicted_boxes.png``), then
``OUT/TASK-MODEL.json`` (settings, per-epoch history, test metrics, seconds, machine)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from ember.train.config import TrainConfig, resolve_config
from ember.train.recipes import load_trained
from ember.train.run import start

MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
if not MNIST.is_dir():  # a worktree sits elsewhere
    MNIST = Path("/work/shared/data/mnist")


def train(args: argparse.Namespace, model_name: str) -> tuple[TrainConfig, Path]:
    """``ember train --task TASK`` on the scenes: the training system's loop, checkpoints and summary."""
    config = resolve_config(
        {
            "task": args.task,
            "model": model_name,
            "dataset": "scenes",
            "data_root": str(MNIST),
            "subset": args.train + args.val,
            "val_size": args.val,
            "test_subset": args.test,
            "epochs": args.epochs,
            "batch_size": args.batch,
            "optimizer": {"name": "adam", "lr": args.lr},
            "schedule": {"name": args.schedule},
            "workers": 0,
            "output": args.out,
            "name": f"{args.task}-{model_name}",
        }
    )
    return config, start(config).directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["segment", "localize"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--val", type=int, default=500, help="validation scenes, beyond --train")
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--schedule", default="constant", help="constant, cosine, onecycle, ... (per step)")
    parser.add_argument("--out", default="runs/vision")
    args = parser.parse_args()
    model_name = args.model or ("fcn_unet" if args.task == "segment" else "localizer")
    started = time.perf_counter()
    config, directory = train(args, model_name)
    seconds = time.perf_counter() - started
    summary = json.loads((directory / "summary.json").read_text())
    history = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    _, model, _, _ = load_trained(directory)  # the best checkpoint
    report = {
        "settings": config.to_dict(),
        "parameters": sum(int(p.array.size) for p in model.parameters()),
        "history": history,
        "test": {key: value for key, value in summary["test"].items() if key != "confusion_matrix"},
        "seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
    }
    out = Path(args.out)
    (out / f"{directory.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["test"]), f"{report['seconds']} s; pictures in {directory / 'report'}")


if __name__ == "__main__":
    main()
