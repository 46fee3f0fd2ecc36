"""The PyTorch side of ``bench_default_job.py``: the default job's recipe written as a PyTorch user writes it,
run in a process of its own that never imports Ember, driven epoch by epoch over a pipe (``peers.Peer``).

The recipe (``recipe.json``), the data split (``*_x.npy`` raw images, ``*_y.npy`` labels) and Ember's initial
weights (``initial.npz``) come from the benchmark's folder, written by Ember's process. Requests, one per
line: ``("weights", path)`` loads the initial weights, ``("epoch",)`` trains one epoch and validates (its
record out), ``("finish",)`` measures the best weights on the test split. The process's clock counts
building the tensors and the model, the epochs and the test; not the wait between requests.

    python benchmarks/default_job_torch.py --folder FOLDER --threads N   (started by bench_default_job.py)
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import ast  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402


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

    def __init__(self, folder: Path) -> None:
        start = time.perf_counter()
        recipe = json.loads((folder / "recipe.json").read_text())
        self.folder, self.history = folder, []
        mean, std = recipe["mean"], recipe["std"]

        def tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
            raw = np.load(folder / f"{split}_x.npy", allow_pickle=False)
            x = torch.from_numpy(raw).float().div_(255).sub_(mean).div_(std).unsqueeze(1)
            return x.contiguous(), torch.from_numpy(np.load(folder / f"{split}_y.npy", allow_pickle=False))

        self.train, self.val, self.test = tensors("train"), tensors("val"), tensors("test")
        torch.manual_seed(recipe["seed"])
        self.generator = torch.Generator().manual_seed(recipe["seed"])
        self.model = small_cnn()
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=recipe["lr"],
            momentum=recipe["momentum"],
            nesterov=recipe["nesterov"],
            weight_decay=recipe["weight_decay"],
        )
        steps = -(-len(self.train[0]) // recipe["batch_size"])
        total = recipe["epochs"] * steps
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=total)
        self.loss_fn = nn.CrossEntropyLoss()
        self.batch_size, self.eval_batch = recipe["batch_size"], recipe["eval_batch"]
        self.best: tuple[float, dict[str, torch.Tensor]] = (-1.0, {})
        self.seconds = time.perf_counter() - start

    def load_weights(self, path: str) -> dict[str, Any]:
        """Start from Ember's initial weights (off both clocks: Ember's excludes writing them too)."""
        own = self.model.state_dict()
        with np.load(path, allow_pickle=False) as weights:
            self.model.load_state_dict(
                {key: torch.from_numpy(weights[key]).to(own[key].dtype) for key in weights.files}
            )
        return {"loaded": len(own)}

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

    def finish(self) -> dict[str, Any]:
        """The best weights on the test split: its accuracy, and the whole job's seconds."""
        start = time.perf_counter()
        self.model.load_state_dict(self.best[1])
        accuracy = self.measure(*self.test)[1]
        self.seconds += time.perf_counter() - start
        return {"test_accuracy": accuracy, "seconds": self.seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    job = TorchJob(Path(args.folder))
    ready = {"start_up": time.perf_counter() - START, "torch": torch.__version__}
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        request = ast.literal_eval(line)  # a tuple of literals: nothing the line says can run
        if request[0] == "weights":
            answer = job.load_weights(request[1])
        elif request[0] == "epoch":
            answer = job.epoch()
        else:
            answer = job.finish()
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
