"""Transfer learning between MNIST and Fashion-MNIST: pretrain on one, fine-tune on small subsets of the
other (100, 1,000, 10,000 images) with each strategy (linear / top / all), against training from scratch on
the same subset for the same number of steps. Prints a table, writes JSON to results/ and the plot of
accuracy against subset size to docs/images/transfer.png (see docs/ensembles.md).

    python benchmarks/bench_transfer.py                        # the docs' figures (~10-20 min on 2 cores)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import ember
from ember.optim import SGD, lr_scheduler
from ember.train import Trainer, recipes, transfer
from ember.train.config import resolve_config
from ember.train.trainer import evaluate

RESULTS = Path(__file__).parent / "results"
ROOTS = {"mnist": "/work/shared/data/mnist", "fashion-mnist": "/usr/share/datasets/fashion-mnist"}
STRATEGIES = ("scratch", "linear", "top", "all")  # and all-lr1: every layer at the head's rate


def setup(args: argparse.Namespace, dataset: str, subset: int, batch: int) -> tuple[Any, Any, Any, Any]:
    config = resolve_config(
        {
            "dataset": dataset,
            "data_root": ROOTS[dataset],
            "model": "small_cnn",
            "model_options": {"width": args.width, "hidden": args.hidden},
            "subset": subset,
            "val_size": 0,
            "augment": ["none"],
            "batch_size": batch,
            "seed": 0,
            "workers": 0,
        }
    )
    data = recipes.load_data(config)
    train_loader, _, test_loader = recipes.loaders(config, data)
    return config, data, train_loader, test_loader


def fit(model: Any, groups: Any, loader: Any, steps: int) -> float:
    """``steps`` SGD steps (as many epochs as that takes) with cosine annealing; returns the seconds."""
    optimizer = SGD(groups, lr=groups[0]["lr"] if isinstance(groups[0], dict) else 0.05, momentum=0.9,
                    nesterov=True, weight_decay=5e-4)  # fmt: skip
    epochs = -(-steps // len(loader))
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
    started = time.perf_counter()
    Trainer(model, optimizer, scheduler=scheduler, scheduler_interval="step").fit(loader, epochs=epochs)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--pretrain-subset", type=int, default=10000)
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150, help="fine-tuning steps per run (batch 64)")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--output", default="transfer", help="results/NAME.json (and docs/images/NAME.png)")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args()
    clock = time.perf_counter()
    out: dict[str, Any] = {"settings": vars(args), "machine": platform.processor() or platform.machine()}
    out["cpus"], out["load_before"], out["rows"] = os.cpu_count(), os.getloadavg(), []
    for source, target in (("mnist", "fashion-mnist"), ("fashion-mnist", "mnist")):
        ember.manual_seed(0)
        config, _, loader, test_loader = setup(args, source, args.pretrain_subset, 128)
        pretrained = recipes.build_model(config, 10, 1, 28)
        seconds = fit(pretrained, list(pretrained.parameters()), loader, args.pretrain_epochs * len(loader))
        source_accuracy = evaluate(pretrained, test_loader).accuracy
        out[f"pretrain_{source}"] = {"test": source_accuracy, "seconds": seconds}
        print(f"pretrained on {source}: {100 * source_accuracy:.2f}% in {seconds:.0f} s", flush=True)
        for size in args.sizes:
            config, _, loader, test_loader = setup(args, target, size, min(64, size))
            for strategy in args.strategies:
                ember.manual_seed(1)
                if strategy == "scratch":
                    model = recipes.build_model(config, 10, 1, 28)
                    groups: Any = [{"params": list(model.parameters()), "lr": args.lr}]
                else:
                    model = copy.deepcopy(pretrained)
                    backbone_lr = 1.0 if strategy == "all-lr1" else 0.1
                    groups = transfer.prepare_finetuning(
                        model, strategy.removesuffix("-lr1"), args.lr, backbone_lr, num_classes=10
                    )
                trained, total = transfer.trainable(model)
                seconds = fit(model, groups, loader, args.steps)
                accuracy = evaluate(model, test_loader).accuracy
                row = {"source": source, "target": target, "size": size, "strategy": strategy,
                       "test": accuracy, "seconds": seconds, "trained_parameters": trained,
                       "parameters": total}  # fmt: skip
                out["rows"].append(row)
                print(f"{source}->{target} {size:>6} {strategy:<8} {100 * accuracy:6.2f}% {seconds:5.1f} s",
                      flush=True)  # fmt: skip
    out["load_after"], out["total_seconds"] = os.getloadavg(), time.perf_counter() - clock
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.output}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    plot(out, Path(__file__).parent.parent / "docs" / "images" / f"{args.output}.png")
    print(f"wrote {path} ({out['total_seconds']:.0f} s)")


def plot(out: dict[str, Any], path: Path) -> None:
    from ember.train.report.plots import new_figure, save_png

    figure = new_figure(10, 4)
    for index, (source, target) in enumerate((("mnist", "fashion-mnist"), ("fashion-mnist", "mnist"))):
        axes = figure.add_subplot(1, 2, index + 1)
        for strategy in dict.fromkeys(r["strategy"] for r in out["rows"]):
            rows = [r for r in out["rows"] if r["source"] == source and r["strategy"] == strategy]
            axes.plot([r["size"] for r in rows], [100 * r["test"] for r in rows], marker="o", label=strategy)
        axes.set_xscale("log")
        axes.set_xlabel(f"{target} training images")
        axes.set_ylabel(f"{target} test accuracy (%)")
        axes.set_title(f"pretrained on {source}")
        axes.grid(alpha=0.3)
        axes.legend()
    save_png(figure, path)


if __name__ == "__main__":
    main()
