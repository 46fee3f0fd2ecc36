"""Ensembles on Fashion-MNIST: K independent members vs their ensemble, a snapshot ensemble (SGDR) vs a
single run of the same total budget, and the cheap relatives (EMA of the weights, SWA of the snapshots with
batch norm recomputed). Prints a table and writes JSON to results/ (see docs/ensembles.md).

    python benchmarks/bench_ensembles.py                       # the docs' figures (~15-25 min on 2 cores)
    python benchmarks/bench_ensembles.py --subset 2000 --epochs 2 --members 2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import ember
from ember.optim import SGD, lr_scheduler, swa_utils
from ember.train import Ensemble, SnapshotEnsemble, Trainer, WeightAveraging, recipes
from ember.train.config import resolve_config
from ember.train.trainer import evaluate

RESULTS = Path(__file__).parent / "results"


def config_for(args: argparse.Namespace, seed: int) -> Any:
    return resolve_config(
        {
            "dataset": "fashion-mnist",
            "data_root": args.data_root,
            "model": "small_cnn",
            "model_options": {"width": args.width, "hidden": args.hidden},
            "subset": args.subset,
            "val_size": 0,
            "augment": ["none"],
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "seed": seed,
            "workers": 0,
        }
    )


def train(
    args: argparse.Namespace, seed: int, epochs: int, cycles: int, folder: Path | None
) -> dict[str, Any]:
    """One run of ``epochs`` epochs: cosine annealing (cycles=1) or SGDR with ``cycles`` warm restarts."""
    config = config_for(args, seed)
    ember.manual_seed(seed)
    data = recipes.load_data(config)
    train_loader, _, test_loader = recipes.loaders(config, data)
    model = recipes.build_model(config, len(data.classes), data.info.channels, data.input_size[1])
    optimizer = SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = epochs * len(train_loader)
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=steps // cycles)
    ema = WeightAveraging(model, swa_utils.get_ema_multi_avg_fn(args.ema_decay))
    callbacks: list[Any] = [ema]
    snapshots = SnapshotEnsemble(folder) if folder is not None else None
    if snapshots is not None:
        callbacks.append(snapshots)
    trainer = Trainer(model, optimizer, scheduler=scheduler, scheduler_interval="step", callbacks=callbacks)
    started = time.perf_counter()
    trainer.fit(train_loader, epochs=epochs)
    seconds = time.perf_counter() - started
    swa_utils.update_bn(train_loader, ema.averaged)
    return {
        "seed": seed,
        "epochs": epochs,
        "cycles": cycles,
        "seconds": seconds,
        "model": model,
        "test": evaluate(model, test_loader).accuracy,
        "ema_test": evaluate(ema.averaged, test_loader).accuracy,
        "snapshots": snapshots.paths if snapshots is not None else [],
        "loaders": (train_loader, test_loader),
        "factory": lambda: recipes.build_model(
            config, len(data.classes), data.info.channels, data.input_size[1]
        ),
    }


def ensemble_accuracy(models: list[Any], loader: Any) -> dict[str, float]:
    return {
        how: evaluate(Ensemble(models, combine=how), loader).accuracy
        for how in ("mean", "geometric", "logits")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--subset", type=int, default=6000)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per member; the long runs do K x this")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--ema-decay", type=float, default=0.99)
    args = parser.parse_args()
    clock = time.perf_counter()
    out: dict[str, Any] = {"settings": vars(args), "machine": platform.processor() or platform.machine()}
    out["cpus"], out["load_before"] = os.cpu_count(), os.getloadavg()

    members = []
    for seed in range(args.members):
        members.append(train(args, seed, args.epochs, 1, None))
        print(
            f"member {seed}: {100 * members[-1]['test']:.2f}% in {members[-1]['seconds']:.0f} s", flush=True
        )
    _, test_loader = members[0]["loaders"]
    out["members"] = [{k: m[k] for k in ("seed", "seconds", "test", "ema_test")} for m in members]
    out["ensemble"] = ensemble_accuracy([m["model"] for m in members], test_loader)
    out["ensemble_seconds"] = sum(m["seconds"] for m in members)
    print("members", [round(100 * m["test"], 2) for m in members], "ensemble", out["ensemble"], flush=True)

    budget = args.epochs * args.members
    single = train(args, 0, budget, 1, None)
    out["single"] = {k: single[k] for k in ("epochs", "seconds", "test", "ema_test")}
    print("single", out["single"], flush=True)

    with tempfile.TemporaryDirectory() as folder:
        run = train(args, 0, budget, args.members, Path(folder))
        train_loader, test_loader = run["loaders"]
        snapshot_models = []
        for path in run["snapshots"]:
            model = run["factory"]()
            ember.train.checkpoint.load_weights(path, model)
            snapshot_models.append(model)
        out["snapshot"] = {
            "epochs": budget,
            "cycles": args.members,
            "seconds": run["seconds"],
            "final": run["test"],
            "ema_test": run["ema_test"],
            "each": [evaluate(m, test_loader).accuracy for m in snapshot_models],
            "last_m": {
                str(m): ensemble_accuracy(snapshot_models[-m:], test_loader)["mean"]
                for m in range(2, len(snapshot_models) + 1)
            },
        }
        swa = swa_utils.AveragedModel(snapshot_models[0])
        for model in snapshot_models:
            swa.update_parameters(model)
        out["snapshot"]["swa_no_bn_update"] = evaluate(swa, test_loader).accuracy
        swa_utils.update_bn(train_loader, swa)
        out["snapshot"]["swa"] = evaluate(swa, test_loader).accuracy
    print("snapshot", out["snapshot"], flush=True)
    out["load_after"], out["total_seconds"] = os.getloadavg(), time.perf_counter() - clock
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "ensembles.json"
    path.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {path} ({out['total_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
