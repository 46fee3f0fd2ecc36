"""Time to 99% test accuracy on MNIST with LeNet-5: Ember against PyTorch, the same recipe in both.

The number a user feels. Both frameworks train the same LeNet-5 (``bench_train_step.lenet5``: conv5x5 6 pad 2,
ReLU, max-pool, conv5x5 16, ReLU, max-pool, fc 120-84-10) from the same initial weights (PyTorch's, copied
into Ember), on the same batches in the same order (one NumPy permutation per epoch, shared), with the same
optimizer and schedule (SGD, momentum 0.9, weight decay 5e-4, learning rate 0.05 held for ``--epochs``
epochs and then divided by 10), batch 128, no augmentation, the inputs normalized with MNIST's mean and
standard deviation (0.1307, 0.3081). After every epoch each model is evaluated on the 10,000 test images
(eval mode, ``inference_mode``, batches of 256: ``ember train``'s evaluation batch for 28x28 images); a
framework's time to accuracy is its wall time (training and evaluations) up to the first evaluation at or
above ``--target``. The inputs are normalized and each epoch's batches sliced once, outside both clocks
(shared); the data path of a real run, Ember's loader against PyTorch's, is in ``bench_default_job.py``.

The two runs are interleaved epoch by epoch (Ember's epoch, then PyTorch's, the order swapped every epoch,
a pause before each) so that the machine's load during the run hits both alike; each framework's clock
counts only its own epochs. Both use the same number of threads (``--threads``, default 2). Prints one line
per epoch and a summary, and writes JSON to ``benchmarks/results/bench_time_to_accuracy.json``.

    PYTHONPATH=src python benchmarks/bench_time_to_accuracy.py [--threads 2] [--max-epochs 8] [--target 0.99]
"""

from __future__ import annotations

import argparse
import os
import sys


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for both frameworks (default 2)")
    parser.add_argument("--target", type=float, default=0.99, help="test accuracy to reach (default 0.99)")
    parser.add_argument("--max-epochs", type=int, default=8, help="give up after this many epochs")
    parser.add_argument("--epochs", type=int, default=4, help="epochs at the full learning rate (then / 10)")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="JSON file (default benchmarks/results/bench_time_to_accuracy.json)")
    return parser.parse_args()


ARGS = parse() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS reads its thread count when NumPy is first imported
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)
    # What `import ember` sets when it comes before NumPy (ember.threads): OpenBLAS's idle workers sleep at
    # once instead of spinning against the kernels' threads. Set here because NumPy is imported first.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train_step  # noqa: E402
import ember  # noqa: E402
from ember import nn as enn  # noqa: E402
from ember import optim as eoptim  # noqa: E402
from ember.data import MNIST  # noqa: E402

MEAN, STD = 0.1307, 0.3081
DATA = Path("/work/shared/data/mnist")
PAUSE = 1.0  # seconds before each epoch: the other library's threads stop spinning
EVAL_BATCH = 256  # ember.train.recipes.eval_images for 28x28 images, in both


def normalized(images: np.ndarray) -> np.ndarray:
    return ((images.astype(np.float32) / 255 - MEAN) / STD)[:, None]


class Run:
    """One framework's model, optimizer and clock; ``epoch`` trains on the given batches and evaluates."""

    def __init__(self, framework: str, model: Any, lr: float) -> None:
        self.framework, self.model, self.seconds, self.history = framework, model, 0.0, []
        options = {"lr": lr, "momentum": 0.9, "weight_decay": 5e-4}
        if framework == "ember":
            self.optimizer = eoptim.SGD(model.parameters(), **options)
            self.loss_fn, self.wrap, self.no_grad = (
                enn.CrossEntropyLoss(),
                ember.from_numpy,
                ember.inference_mode,
            )
        else:
            self.optimizer = torch.optim.SGD(model.parameters(), **options)
            self.loss_fn, self.wrap, self.no_grad = (
                torch.nn.CrossEntropyLoss(),
                torch.from_numpy,
                torch.inference_mode,
            )

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def epoch(
        self, batches: list[tuple[np.ndarray, np.ndarray]], test: tuple[np.ndarray, np.ndarray]
    ) -> None:
        start = time.perf_counter()
        self.model.train()
        losses = []
        for x, y in batches:
            losses.append(
                bench_train_step.train_step(self.model, self.optimizer, self.loss_fn, *self.wrap_pair(x, y))
            )
        correct = 0
        self.model.eval()
        with self.no_grad():
            for first in range(0, len(test[0]), EVAL_BATCH):
                x, y = test[0][first : first + EVAL_BATCH], test[1][first : first + EVAL_BATCH]
                scores = self.model(self.wrap(x)).numpy()
                correct += int((scores.argmax(1) == y).sum())
        self.seconds += time.perf_counter() - start
        self.history.append(
            {
                "seconds": round(self.seconds, 2),
                "loss": float(np.mean(losses)),
                "accuracy": correct / len(test[0]),
            }
        )

    def wrap_pair(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        return self.wrap(x), self.wrap(y)


def main() -> int:
    args = ARGS or parse()
    torch.set_num_threads(args.threads)
    train, test = MNIST(DATA, train=True), MNIST(DATA, train=False)
    train_x, train_y = normalized(train.data), train.targets.astype(np.int64)
    test_data = (normalized(test.data), test.targets.astype(np.int64))
    torch.manual_seed(args.seed)
    torch_model = bench_train_step.lenet5(torch.nn)
    ember_model = bench_train_step.lenet5(enn)
    ember_model.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_model.state_dict().items()})
    runs = {"ember": Run("ember", ember_model, args.lr), "torch": Run("torch", torch_model, args.lr)}
    reached: dict[str, dict[str, Any] | None] = {"ember": None, "torch": None}
    rng = np.random.default_rng(args.seed)
    print(f"{'epoch':>5} {'framework':>9} {'loss':>8} {'accuracy':>9} {'seconds':>8}")
    for epoch in range(args.max_epochs):
        order = rng.permutation(len(train_x))
        batches = [
            (train_x[order[i : i + args.batch_size]], train_y[order[i : i + args.batch_size]])
            for i in range(0, len(order), args.batch_size)
        ]
        lr = args.lr if epoch < args.epochs else args.lr / 10
        for framework in ("ember", "torch") if epoch % 2 == 0 else ("torch", "ember"):
            if reached[framework] is not None:
                continue
            time.sleep(PAUSE)
            run = runs[framework]
            run.set_lr(lr)
            run.epoch(batches, test_data)
            last = run.history[-1]
            print(
                f"{epoch + 1:>5} {framework:>9} {last['loss']:>8.4f} {last['accuracy']:>9.4f} "
                f"{last['seconds']:>8.1f}",
                flush=True,
            )
            if last["accuracy"] >= args.target:
                reached[framework] = {"epochs": epoch + 1, **last}
        if all(reached.values()):
            break
    for framework, result in reached.items():
        if result is None:
            print(f"{framework}: did not reach {args.target:.2%} in {args.max_epochs} epochs")
        else:
            print(
                f"{framework}: {args.target:.2%} after {result['epochs']} epochs, {result['seconds']:.1f} s "
                f"(test accuracy {result['accuracy']:.4f})"
            )
    if reached["ember"] and reached["torch"]:
        ratio = reached["ember"]["seconds"] / reached["torch"]["seconds"]
        print(f"Ember / PyTorch time to accuracy: {ratio:.2f}x")
    output = Path(args.output or Path(__file__).resolve().parent / "results" / "bench_time_to_accuracy.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "time_to_accuracy",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "recipe": {k: v for k, v in vars(args).items() if k not in ("output",)},
        "load_average": os.getloadavg(),
        "machine": bench_train_step.machine(args.threads),
        "reached": reached,
        "history": {framework: run.history for framework, run in runs.items()},
    }
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
