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

PyTorch's data path is the fast hand-written one (the whole split as one normalized tensor, batches by
indexing, the flip by ``torch.where``); a ``torch.utils.data.DataLoader`` over a ``TensorDataset`` would
collate sample by sample and be slower. PyTorch writes no per-step log file and no report.

The two are interleaved epoch by epoch: a callback at the end of each of Ember's epochs (after its
checkpoint) trains and validates PyTorch's epoch; each framework's clock excludes the other's epochs and
the pauses around them (one second each side: the other library's threads stop spinning). Ember's clock
runs from ``run.start`` to its return (loading the data, building, training, validation, checkpoints,
the test split, summary and report); PyTorch's from preparing its tensors to its test measurement. Both
use ``--threads`` threads. Time to accuracy: each framework's clock at the end of the first epoch whose
validation accuracy reaches the target (default: the highest that both reach), and the whole job.

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

import copy  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train_step  # noqa: E402
from ember.train import recipes, run  # noqa: E402
from ember.train.callbacks.base import Callback, TrainingLoop  # noqa: E402
from ember.train.config import TrainConfig, resolve_config  # noqa: E402

PAUSE = 1.0


def small_cnn() -> nn.Module:
    """``ember.models.small_cnn`` in PyTorch: the same layers in the same order (the same state-dict keys)."""

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1, bias=False),
                nn.BatchNorm2d(32),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1, bias=False),
                nn.BatchNorm2d(64),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.AdaptiveAvgPool2d(7),
            )
            self.classifier = nn.Sequential(
                nn.Flatten(),
                nn.Dropout(0.25),
                nn.Linear(64 * 7 * 7, 128),
                nn.ReLU(),
                nn.Dropout(0.25),
                nn.Linear(128, 10),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier(self.features(x))

    return SmallCNN()


class TorchJob:
    """The default job's recipe in plain PyTorch, one epoch at a time, on its own clock."""

    def __init__(self, config: TrainConfig, data: recipes.RunData, epochs: int, folder: Path) -> None:
        start = time.perf_counter()
        self.folder, self.epochs, self.history = folder, epochs, []
        mean, std = data.info.mean[0], data.info.std[0]
        images, labels = data.train.dataset.data, data.train.dataset.targets

        def tensors(indices: Any, raw: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.from_numpy(raw[indices]).float().div_(255).sub_(mean).div_(std).unsqueeze(1)
            return x.contiguous(), torch.from_numpy(np.asarray(targets[indices], dtype=np.int64))

        self.train = tensors(np.asarray(data.train.indices), images, labels)
        self.val = tensors(np.asarray(data.val.indices), images, labels)
        self.test = tensors(np.arange(len(data.test)), data.test.data, data.test.targets)
        torch.manual_seed(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.model = small_cnn()
        opt = config.optimizer
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=opt.lr,
            momentum=opt.momentum,
            nesterov=bool(opt.nesterov),
            weight_decay=opt.weight_decay,
        )
        steps = -(-len(self.train[0]) // config.batch_size)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=epochs * steps)
        self.loss_fn = nn.CrossEntropyLoss()
        self.batch_size = config.batch_size
        self.eval_batch = recipes.eval_batch_size(config, data.input_size)  # Ember's, the same
        self.best: tuple[float, dict[str, torch.Tensor]] = (-1.0, {})
        self.seconds = time.perf_counter() - start

    def copy_weights(self, state: dict[str, Any]) -> None:
        """Start from Ember's initial weights."""
        own = self.model.state_dict()
        self.model.load_state_dict(
            {key: torch.from_numpy(np.array(value.array)).to(own[key].dtype) for key, value in state.items()}
        )

    def epoch(self) -> dict[str, Any]:
        start = time.perf_counter()
        x_all, y_all = self.train
        self.model.train()
        order = torch.randperm(len(x_all), generator=self.generator)
        total_loss, correct = 0.0, 0
        for first in range(0, len(order), self.batch_size):
            index = order[first : first + self.batch_size]
            x, y = x_all[index], y_all[index]
            flip = torch.rand(len(index), generator=self.generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            scores = self.model(x)
            loss = self.loss_fn(scores, y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total_loss += float(loss.item()) * len(index)
            correct += int((scores.argmax(1) == y).sum().item())
        val_loss, val_accuracy = self.measure(*self.val)
        state = self.model.state_dict()
        torch.save(state, self.folder / "last.pt")
        if val_accuracy > self.best[0]:
            self.best = (val_accuracy, copy.deepcopy(state))
            torch.save(state, self.folder / "best.pt")
        self.seconds += time.perf_counter() - start
        record = {
            "epoch": len(self.history) + 1,
            "train_loss": total_loss / len(order),
            "train_accuracy": correct / len(order),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "seconds": round(self.seconds, 2),
        }
        self.history.append(record)
        return record

    def measure(self, x_all: torch.Tensor, y_all: torch.Tensor) -> tuple[float, float]:
        self.model.eval()
        total, correct = 0.0, 0
        with torch.inference_mode():
            for first in range(0, len(x_all), self.eval_batch):
                x, y = x_all[first : first + self.eval_batch], y_all[first : first + self.eval_batch]
                scores = self.model(x)
                total += float(self.loss_fn(scores, y)) * len(x)
                correct += int((scores.argmax(1) == y).sum())
        return total / len(x_all), correct / len(x_all)

    def finish(self) -> float:
        """The best weights on the test split: its accuracy."""
        start = time.perf_counter()
        self.model.load_state_dict(self.best[1])
        accuracy = self.measure(*self.test)[1]
        self.seconds += time.perf_counter() - start
        return accuracy


class Interleave(Callback):
    """After each of Ember's epochs (and its checkpoint), PyTorch's epoch, off Ember's clock."""

    order = 200  # after ModelCheckpoint (100): Ember's epoch includes its checkpoint

    def __init__(self, job: TorchJob, started: float) -> None:
        self.job, self.started, self.excluded = job, started, 0.0
        self.history: list[dict[str, Any]] = []

    def ember_seconds(self) -> float:
        return time.perf_counter() - self.started - self.excluded

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        self.job.copy_weights(trainer.model.state_dict())

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        keys = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
        self.history.append(
            {**{key: record.get(key) for key in keys}, "seconds": round(self.ember_seconds(), 2)}
        )
        left = time.perf_counter()
        time.sleep(PAUSE)
        ours = self.history[-1]
        theirs = self.job.epoch()
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
    torch.set_num_threads(args.threads)
    settings: dict[str, Any] = {"name": "bench-default-job"}
    for key in ("epochs", "subset", "data_root"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    with tempfile.TemporaryDirectory() as scratch:
        settings["output"] = args.keep or scratch
        config = resolve_config(settings)
        # PyTorch's tensors come from the same split; loading them is on PyTorch's clock (TorchJob).
        folder = Path(scratch) / "torch"
        folder.mkdir()
        loading = time.perf_counter()
        data = recipes.load_data(config)  # reading the files: Ember's run reads them too, on its clock
        loading = time.perf_counter() - loading
        job = TorchJob(config, data, config.total_epochs, folder)
        job.seconds += loading
        started = time.perf_counter()
        interleave = Interleave(job, started)
        result = run.start(config, extra_callbacks=[interleave])
        ember_total = interleave.ember_seconds()
        torch_test = job.finish()
    ember_history, torch_history = interleave.history, job.history
    if not (ember_history and torch_history):
        print("stopped before the first epoch's end: nothing to compare")
        return 1
    both = min(max(r["val_accuracy"] for r in ember_history), max(r["val_accuracy"] for r in torch_history))
    target = args.target if args.target is not None else both
    ember_at, torch_at = reached(ember_history, target), reached(torch_history, target)
    ember_test = result.test.accuracy if result.test is not None else None
    if result.finished and ember_test is not None:  # a stopped run (Ctrl-C, SIGTERM) has no test figure
        print(f"Ember:   test accuracy {ember_test:.4f}, the whole job {ember_total:.1f} s")
        print(f"PyTorch: test accuracy {torch_test:.4f}, the whole job {job.seconds:.1f} s")
        print(f"the whole job, Ember / PyTorch: {ember_total / job.seconds:.2f}x")
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
        "torch": {
            "seconds": job.seconds,
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
