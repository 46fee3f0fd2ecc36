"""Does the range test's suggestion train well? The full measurement on the default Fashion-MNIST CNN.

1. ``lr_find`` on ``ember train``'s default setup (small CNN, SGD with Nesterov momentum 0.9, weight decay
   5e-4, batch 128, Fashion-MNIST with flips), verified by short runs at 1/10x, 1x and 10x the suggestion.
2. The band of rates that train well, measured, not assumed: the same short runs (``--steps`` steps from
   the same initial weights, on the same batches) at every half decade from 1e-4 to 1, each measured on
   1,000 held-out validation images, and at the suggestion itself. A rate trains well when its held-out
   loss gets at least 80% of the way from the initial loss down to the best rate's; the suggestion lies in
   the band when its own run does.
3. One epoch of the real recipe (cosine schedule over the epoch) at the verified rate and at the recipe's
   default rate (0.05), with the validation accuracy of each.

Prints a table and writes JSON to ``benchmarks/results/bench_lr_find.json`` and the range test's plot to
``benchmarks/results/lr_find.png`` (``docs/images/lr_find.png`` is one). ``tests/train/test_doctor_lr.py``
runs a reduced version (fewer steps, a subset) on every CI run. Takes about 10 minutes on an idle 2-core
machine; the results are in ``docs/babysitting.md``.

    PYTHONPATH=src python benchmarks/bench_lr_find.py [--steps 60] [--no-epoch]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from ember.train import recipes, run
from ember.train.config import resolve_config
from ember.train.doctor import band_of_rates, lr_find, verify_learning_rates
from ember.train.doctor.plots import plot_range_test
from ember.train.trainer import Trainer

GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]


def one_epoch(lr: float) -> float:
    config = resolve_config({"workers": 1, "epochs": 1, "optimizer": {"lr": lr}})
    pieces = run.build(config)
    trainer = Trainer(
        pieces.model,
        pieces.optimizer,
        recipes.build_loss(config),
        scheduler=pieces.scheduler,
        scheduler_interval=config.schedule.interval or "epoch",
        num_classes=10,
    )
    history = trainer.fit(pieces.train_loader, pieces.val_loader, epochs=1)
    return float(history[-1]["val_accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="steps of each short run (default 60)")
    parser.add_argument("--no-epoch", action="store_true", help="skip the one-epoch runs")
    args = parser.parse_args()
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    config = resolve_config({"workers": 1})
    pieces = run.build(config)
    loss = recipes.build_loss(config)
    val = [batch for _, batch in zip(range(2), pieces.val_loader, strict=False)]  # 1,000 images
    found = lr_find(
        pieces.model, pieces.train_loader, pieces.optimizer, loss, verify=args.steps, val_loader=val
    )
    print(found)
    plot_range_test(found, out / "lr_find.png")
    rates = [*GRID, found.suggestion] if found.suggestion else GRID
    trials = verify_learning_rates(
        pieces.model, pieces.train_loader, pieces.optimizer, rates, loss, steps=args.steps, val_loader=val
    )
    with_init = float(np.mean(found.losses[:5]))
    band = band_of_rates(trials, with_init)
    print(f"{'lr':>8} {'val loss':>9} {'val acc':>8}  trains well")
    for trial in trials:
        well = "yes" if trial.lr in band else ""
        print(f"{trial.lr:8.0e} {trial.val_loss:9.4f} {100 * trial.val_accuracy:7.2f}%  {well}")
    suggestion, verified = found.suggestion, found.verified_lr
    inside = suggestion in band  # its own short run trains well
    band_text = f"{min(band):g}-{max(band):g}" if band else "empty"
    print(f"suggestion {suggestion:.3g} (verified {verified:.3g}); band {band_text}: inside {inside}")
    epochs = {}
    if not args.no_epoch:
        for lr in (verified, 0.05):
            epochs[f"{lr:.4g}"] = one_epoch(float(lr))
            print(f"one epoch at lr {lr:.4g}: validation accuracy {100 * epochs[f'{lr:.4g}']:.2f}%")
    result = {
        "machine": platform.machine(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "seconds": time.perf_counter() - started,
        "steps": args.steps,
        "range_test": found.to_dict(),
        "grid": [[t.lr, t.val_loss, t.val_accuracy] for t in trials],
        "band": band,
        "suggestion_inside_band": inside,
        "one_epoch_val_accuracy": epochs,
    }
    (out / "bench_lr_find.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
