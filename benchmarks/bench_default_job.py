"""Time to accuracy of the default Fashion-MNIST job (``ember train``): Ember's real run against PyTorch.

Ember runs the job the README's main command runs, through the code ``ember train`` uses
(``ember.train.run.start`` with the default configuration: the Trainer with its standard callbacks, the
background loader thread, the per-step log, checkpoints every epoch, the test measurement of the best
checkpoint and the HTML report). PyTorch runs the same recipe written as a PyTorch user writes it:

- data: Fashion-MNIST's 60,000 training images less the 5,000 held out for validation (the same split:
  the run's own ``recipes.load_data``), scaled to [0, 1] and normalized with (0.2860, 0.3530); each epoch
  a fresh shuffle, batch 128 (the last batch partial), each image mirrored left-right with probability 0.5;
- the model: ``small_cnn`` (conv3x3 32 without bias, batch norm, ReLU, max-pool; conv3x3 64, batch norm,
  ReLU, max-pool; dropout 0.25, fc 3136-128, ReLU, dropout 0.25, fc 10), starting from Ember's initial
  weights (copied across when the run starts);
- SGD with Nesterov momentum 0.9, lr 0.05, weight decay 5e-4, cosine decay to 0 stepped every step over
  the 8 epochs; cross-entropy; each step's loss and batch accuracy read back (as the Trainer logs them);
- after each epoch: validation on the 5,000 held-out images (Ember's evaluation batch, 256; eval mode, no
  graph), the last and the best (by validation accuracy) weights saved; at the end the best weights
  measured on the 10,000 test images.

PyTorch's side is ``default_job_torch.py``. PyTorch's data path is the fast hand-written one (the whole
split as one normalized tensor, batches by indexing, the flip by ``torch.where``); a
``torch.utils.data.DataLoader`` over a ``TensorDataset`` would collate sample by sample and be slower.
PyTorch writes no per-step log file and no report.

Each framework runs in a process of its own that never imports the other, as a user runs it. In one process
the two would share one OpenMP runtime, set up the way the first to load it chose (``docs/performance.md``,
"Two threads"). This process runs Ember's job. It writes the data split and Ember's initial weights to a
folder for PyTorch's process, and drives that process over a pipe (``peers.Peer``). The two are interleaved
epoch by epoch: a callback at the end of each of Ember's epochs (after its checkpoint) has PyTorch's process
train and validate its epoch; each framework's clock excludes the other's epochs and the pauses around them
(one second each side: the other library's threads stop spinning). Ember's clock runs from ``run.start`` to
its return (loading the data, building, training, validation, checkpoints, the test split, summary and
report); PyTorch's from reading its split and making its tensors to its test measurement. Both use
``--threads`` threads. Time to accuracy: each framework's clock at the end of the first epoch whose validation
accuracy reaches the target (default: the highest that both reach), and the whole job.

    PYTHONPATH=src python benchmarks/bench_default_job.py [--threads 1] [--target 0.91]
    PYTHONPATH=src python benchmarks/bench_default_job.py --subset 6000 --epochs 1   # a quick check
"""

from __future__ import annotations

import argparse
import os
import sys


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for both frameworks (default 1)")
    parser.add_argument("--target", type=float, help="validation accuracy to reach (default: both's best)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the recipe's, 8)")
    parser.add_argument("--subset", type=int, help="the first N training images only (a quick check)")
    parser.add_argument("--data-root", help="Fashion-MNIST's folder (default: where ember train looks)")
    parser.add_argument("--keep", help="make the Ember run directory in this folder and keep it")
    parser.add_argument("--output", help="JSON file (default benchmarks/results/bench_default_job.json)")
    return parser.parse_args()


ARGS = parse() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS reads its thread count when NumPy is first imported
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)
    # What `import ember` sets when it comes before NumPy (ember.threads): OpenBLAS's idle workers sleep at
    # once instead of spinning against the kernels' threads. Set here because NumPy is imported first.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ember.train import recipes, run  # noqa: E402
from ember.train.callbacks.base import Callback, TrainingLoop  # noqa: E402
from ember.train.config import TrainConfig, resolve_config  # noqa: E402
from peers import Peer  # noqa: E402

PAUSE = 1.0


def save_for_torch(config: TrainConfig, data: recipes.RunData, folder: Path) -> None:
    """The split (raw images and labels) and the recipe, for PyTorch's process to read on its own clock."""
    images, labels = data.train.dataset.data, data.train.dataset.targets
    splits = {
        "train": (images, labels, np.asarray(data.train.indices)),
        "val": (images, labels, np.asarray(data.val.indices)),
        "test": (data.test.data, data.test.targets, np.arange(len(data.test))),
    }
    for split, (raw, targets, indices) in splits.items():
        np.save(folder / f"{split}_x.npy", raw[indices])
        np.save(folder / f"{split}_y.npy", np.asarray(targets[indices], dtype=np.int64))
    opt = config.optimizer
    recipe = {
        "mean": data.info.mean[0], "std": data.info.std[0], "seed": config.seed, "lr": opt.lr,
        "momentum": opt.momentum, "nesterov": bool(opt.nesterov), "weight_decay": opt.weight_decay,
        "batch_size": config.batch_size, "epochs": config.total_epochs,
        "eval_batch": recipes.eval_batch_size(config, data.input_size),  # Ember's, the same
    }  # fmt: skip
    (folder / "recipe.json").write_text(json.dumps(recipe))


class Interleave(Callback):
    """After each of Ember's epochs (and its checkpoint), PyTorch's epoch in its process, off Ember's
    clock."""

    order = 200  # after ModelCheckpoint (100): Ember's epoch includes its checkpoint

    def __init__(self, torch_job: Peer, folder: Path, started: float) -> None:
        self.torch_job, self.folder, self.started, self.excluded = torch_job, folder, started, 0.0
        self.history: list[dict[str, Any]] = []
        self.torch_history: list[dict[str, Any]] = []

    def ember_seconds(self) -> float:
        return time.perf_counter() - self.started - self.excluded

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        left = time.perf_counter()
        path = self.folder / "initial.npz"
        np.savez(path, **{key: np.asarray(value.array) for key, value in trainer.model.state_dict().items()})
        self.torch_job.ask(("weights", str(path)))
        self.excluded += time.perf_counter() - left

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        keys = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
        self.history.append(
            {**{key: record.get(key) for key in keys}, "seconds": round(self.ember_seconds(), 2)}
        )
        left = time.perf_counter()
        time.sleep(PAUSE)
        ours = self.history[-1]
        theirs = self.torch_job.ask(("epoch",))
        self.torch_history.append(theirs)
        print(
            f"epoch {ours['epoch']}: Ember val {ours['val_accuracy']:.4f} at {ours['seconds']:.1f} s, "
            f"PyTorch val {theirs['val_accuracy']:.4f} at {theirs['seconds']:.1f} s",
            flush=True,
        )
        time.sleep(PAUSE)
        self.excluded += time.perf_counter() - left


def reached(history: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    return next((record for record in history if record["val_accuracy"] >= target), None)


def main() -> int:
    args = ARGS or parse()
    settings: dict[str, Any] = {"name": "bench-default-job"}
    for key in ("epochs", "subset", "data_root"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    with tempfile.TemporaryDirectory() as scratch:
        settings["output"] = args.keep or scratch
        config = resolve_config(settings)
        folder = Path(scratch) / "torch"
        folder.mkdir()
        save_for_torch(config, recipes.load_data(config), folder)  # Ember's run reads the files again
        command = [sys.executable, str(Path(__file__).resolve().parent / "default_job_torch.py")]
        torch_job = Peer([*command, "--folder", str(folder), "--threads", str(args.threads)])
        print(f"PyTorch's process: started in {torch_job.ready['start_up']:.1f} s", flush=True)
        interleave = Interleave(torch_job, folder, time.perf_counter())
        result = run.start(config, extra_callbacks=[interleave])
        ember_total = interleave.ember_seconds()
        torch_end = torch_job.ask(("finish",)) if interleave.torch_history else None
        torch_job.close()
    ember_history, torch_history = interleave.history, interleave.torch_history
    if not (ember_history and torch_history) or torch_end is None:
        print("stopped before the first epoch's end: nothing to compare")
        return 1
    both = min(max(r["val_accuracy"] for r in ember_history), max(r["val_accuracy"] for r in torch_history))
    target = args.target if args.target is not None else both
    torch_test, torch_seconds = torch_end["test_accuracy"], torch_end["seconds"]
    ember_at, torch_at = reached(ember_history, target), reached(torch_history, target)
    ember_test = result.test.accuracy if result.test is not None else None
    if result.finished and ember_test is not None:  # a stopped run (Ctrl-C, SIGTERM) has no test figure
        print(f"Ember:   test accuracy {ember_test:.4f}, the whole job {ember_total:.1f} s")
        print(f"PyTorch: test accuracy {torch_test:.4f}, the whole job {torch_seconds:.1f} s")
        print(f"the whole job, Ember / PyTorch: {ember_total / torch_seconds:.2f}x")
    else:
        print(f"Ember's run stopped after {len(ember_history)} epochs ({result.stop_reason})")
    for name, at in (("Ember", ember_at), ("PyTorch", torch_at)):
        where = f"after epoch {at['epoch']}, {at['seconds']:.1f} s" if at else "not reached"
        print(f"{name}: validation accuracy {target:.4f}: {where}")
    if ember_at and torch_at:
        print(
            f"time to {target:.2%} validation accuracy, Ember / PyTorch: "
            f"{ember_at['seconds'] / torch_at['seconds']:.2f}x"
        )
    output = Path(args.output or Path(__file__).resolve().parent / "results" / "bench_default_job.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    import bench_train_step  # for the machine's description (it imports both frameworks; none trains now)

    summary = {
        "benchmark": "default_job",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "recipe": config.to_dict(),
        "load_average": os.getloadavg(),
        "machine": bench_train_step.machine(args.threads),
        "target": target,
        "ember": {
            "seconds": ember_total,
            "test_accuracy": ember_test,
            "reached": ember_at,
            "history": ember_history,
        },
        "processes": "one per framework",
        "torch": {
            "start_up": torch_job.ready["start_up"],
            "seconds": torch_seconds,
            "test_accuracy": torch_test,
            "reached": torch_at,
            "history": torch_history,
        },
    }
    output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
