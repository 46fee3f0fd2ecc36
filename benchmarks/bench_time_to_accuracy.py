"""Time to 99% test accuracy on MNIST with LeNet-5: Ember against PyTorch, the same recipe in both.

The number a user feels. Both frameworks train the same LeNet-5 (``networks.lenet5``: conv5x5 6 pad 2, ReLU,
max-pool, conv5x5 16, ReLU, max-pool, fc 120-84-10) from the same initial weights (PyTorch's, copied into
Ember), on the same batches in the same order (one NumPy permutation per epoch from the same seed), with the
same optimizer and schedule (SGD, momentum 0.9, weight decay 5e-4, learning rate 0.05 held for ``--epochs``
epochs and then divided by 10), batch 128, no augmentation, the inputs normalized with MNIST's mean and
standard deviation (0.1307, 0.3081). After every epoch each model is evaluated on the 10,000 test images
(eval mode, ``inference_mode``, batches of 256: ``ember train``'s evaluation batch for 28x28 images); a
framework's time to accuracy is its wall time (training and evaluations) up to the first evaluation at or
above ``--target``; and the same plus its process's start-up ("since launch": importing the framework,
building the model and loading the data; Ember loads its compiled kernels on first use, inside its first
step, where PyTorch loads its own when it is imported). The inputs are normalized and each epoch's
batches sliced outside both clocks; the data path of a real run, Ember's loader against PyTorch's, is in
``bench_default_job.py``.

Each framework runs in a process of its own that never imports the other, as a user runs it: in one
process the two would share one OpenMP runtime (oneDNN finds PyTorch's already loaded), whose threads then
wait the way PyTorch set them up, not the way Ember does (``docs/performance.md``, "Two threads"). This
process loads the data once, starts the two, and interleaves their epochs (Ember's epoch, then PyTorch's,
the order swapped every epoch, a pause before each), so that the machine's load during the run hits both
alike; each framework's clock counts only its own epochs, and the other process waits, idle, meanwhile.
Both use the same number of threads (``--threads``, default 2). Prints one line per epoch and a summary,
and writes JSON to ``benchmarks/results/bench_time_to_accuracy.json``.

    PYTHONPATH=src python benchmarks/bench_time_to_accuracy.py [--threads 2] [--max-epochs 8] [--target 0.99]
"""

from __future__ import annotations

import time

START = time.perf_counter()  # a framework's process: its start-up counts from here (before any import)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
FRAMEWORKS = ("ember", "torch")
MEAN, STD = 0.1307, 0.3081
DATA = Path("/work/shared/data/mnist")
PAUSE = 1.0  # seconds before each epoch: the other process's threads stop spinning
EVAL_BATCH = 256  # ember.train.recipes.eval_images for 28x28 images, in both


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
    parser.add_argument("--serve", choices=FRAMEWORKS, help=argparse.SUPPRESS)  # a framework's process
    parser.add_argument("--folder", help=argparse.SUPPRESS)  # the data and initial weights, for --serve
    return parser.parse_args()


ARGS = parse() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS reads its thread count when NumPy is first imported
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, str(HERE))
from networks import lenet5, train_step  # noqa: E402
from peers import Peer  # noqa: E402

# ----------------------------------------------------------------------------------------------------------
# A framework's process: builds its model, then trains and evaluates one epoch per line it reads


class Run:
    """One framework's model and optimizer; ``epoch`` trains on the epoch's batches and evaluates."""

    def __init__(self, framework: str, folder: Path, args: argparse.Namespace) -> None:
        self.framework, self.args = framework, args
        if framework == "ember":
            import ember
            from ember import nn, optim

            ember.set_num_threads(args.threads)
            self.model = lenet5(nn)
            weights = np.load(folder / "weights.npz")
            self.model.load_state_dict({name: weights[name] for name in weights.files})
            self.wrap, self.no_grad = ember.from_numpy, ember.inference_mode
        else:
            import torch
            from torch import nn, optim  # type: ignore[no-redef]

            torch.set_num_threads(args.threads)
            torch.manual_seed(args.seed)
            self.model = lenet5(nn)
            state = {name: value.detach().numpy() for name, value in self.model.state_dict().items()}
            np.savez(folder / "weights.npz", **state)  # the initial weights, for Ember's process
            self.wrap, self.no_grad = torch.from_numpy, torch.inference_mode
        self.optimizer = optim.SGD(self.model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
        self.loss_fn = nn.CrossEntropyLoss()
        self.train = np.load(folder / "train_x.npy"), np.load(folder / "train_y.npy")
        self.test = np.load(folder / "test_x.npy"), np.load(folder / "test_y.npy")
        self.rng = np.random.default_rng(args.seed)

    def epoch(self, lr: float) -> dict[str, Any]:
        """Train one epoch at ``lr`` and evaluate: the seconds (training and evaluation), loss, accuracy."""
        (train_x, train_y), size = self.train, self.args.batch_size
        order = self.rng.permutation(len(train_x))  # the same sequence in both processes
        batches = [
            (train_x[order[i : i + size]], train_y[order[i : i + size]]) for i in range(0, len(order), size)
        ]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        start = time.perf_counter()
        self.model.train()
        losses = [
            train_step(self.model, self.optimizer, self.loss_fn, self.wrap(x), self.wrap(y))
            for x, y in batches
        ]
        correct = 0
        self.model.eval()
        with self.no_grad():
            for first in range(0, len(self.test[0]), EVAL_BATCH):
                x, y = self.test[0][first : first + EVAL_BATCH], self.test[1][first : first + EVAL_BATCH]
                scores = self.model(self.wrap(x)).numpy()
                correct += int((scores.argmax(1) == y).sum())
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "loss": float(np.mean(losses)), "accuracy": correct / len(self.test[0])}


def serve(framework: str, folder: Path, args: argparse.Namespace) -> int:
    run = Run(framework, folder, args)
    print(json.dumps({"start_up": time.perf_counter() - START}), flush=True)  # imports, model, data
    for line in sys.stdin:
        print(json.dumps(run.epoch(float(line))), flush=True)
    return 0


# ----------------------------------------------------------------------------------------------------------
# This process: the data, the two framework processes, the interleaving and the report


def peer(framework: str, folder: Path, args: argparse.Namespace) -> Peer:
    """A framework's process (``--serve``), driven one epoch per line; ``ready`` holds its start-up."""
    command = [sys.executable, __file__, "--serve", framework, "--folder", str(folder)]
    for option in ("threads", "lr", "batch_size", "seed"):
        command += ["--" + option.replace("_", "-"), str(getattr(args, option))]
    return Peer(command)


def normalized(images: np.ndarray) -> np.ndarray:
    return ((images.astype(np.float32) / 255 - MEAN) / STD)[:, None]


def save_data(folder: Path) -> None:
    from ember.data import MNIST  # the reader only: this process trains nothing

    for split, train in (("train", True), ("test", False)):
        data = MNIST(DATA, train=train)
        np.save(folder / f"{split}_x.npy", normalized(data.data))
        np.save(folder / f"{split}_y.npy", data.targets.astype(np.int64))


def main() -> int:
    args = ARGS or parse()
    if args.serve:
        return serve(args.serve, Path(args.folder), args)
    reached: dict[str, dict[str, Any] | None] = {"ember": None, "torch": None}
    history: dict[str, list[dict[str, Any]]] = {"ember": [], "torch": []}
    clock = {"ember": 0.0, "torch": 0.0}
    with tempfile.TemporaryDirectory(prefix="ember-tta-") as directory:
        folder = Path(directory)
        save_data(folder)
        peers = {"torch": peer("torch", folder, args)}  # first: it writes the initial weights
        peers["ember"] = peer("ember", folder, args)
        start_up = {framework: round(each.ready["start_up"], 2) for framework, each in peers.items()}
        print("start-up (imports, model, data): " + ", ".join(f"{k} {v:.2f} s" for k, v in start_up.items()))
        print(f"{'epoch':>5} {'framework':>9} {'loss':>8} {'accuracy':>9} {'seconds':>8} {'launch':>8}")
        try:
            for epoch in range(args.max_epochs):
                lr = args.lr if epoch < args.epochs else args.lr / 10
                for framework in FRAMEWORKS if epoch % 2 == 0 else FRAMEWORKS[::-1]:
                    if reached[framework] is not None:
                        continue
                    time.sleep(PAUSE)
                    result = peers[framework].ask(lr)
                    clock[framework] += result["seconds"]
                    since_launch = round(start_up[framework] + clock[framework], 2)
                    last = {**result, "seconds": round(clock[framework], 2), "since_launch": since_launch}
                    history[framework].append(last)
                    print(
                        f"{epoch + 1:>5} {framework:>9} {last['loss']:>8.4f} {last['accuracy']:>9.4f} "
                        f"{last['seconds']:>8.1f} {since_launch:>8.1f}",
                        flush=True,
                    )
                    if last["accuracy"] >= args.target:
                        reached[framework] = {"epochs": epoch + 1, **last}
                if all(reached.values()):
                    break
        finally:
            for each in peers.values():
                each.close()
    for framework, result in reached.items():
        if result is None:
            print(f"{framework}: did not reach {args.target:.2%} in {args.max_epochs} epochs")
        else:
            print(
                f"{framework}: {args.target:.2%} after {result['epochs']} epochs, {result['seconds']:.1f} s "
                f"training, {result['since_launch']:.1f} s since launch "
                f"(test accuracy {result['accuracy']:.4f})"
            )
    if reached["ember"] and reached["torch"]:
        for clock_name, key in (("training", "seconds"), ("since launch", "since_launch")):
            ratio = reached["ember"][key] / reached["torch"][key]
            print(f"Ember / PyTorch time to accuracy, {clock_name}: {ratio:.2f}x")
    import bench_train_step  # for the machine's description (it imports both frameworks; none trains here)

    output = Path(args.output or HERE / "results" / "bench_time_to_accuracy.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "time_to_accuracy",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "recipe": {k: v for k, v in vars(args).items() if k not in ("output", "serve", "folder")},
        "processes": "one per framework",
        "load_average": os.getloadavg(),
        "start_up": start_up,
        "machine": bench_train_step.machine(args.threads),
        "reached": reached,
        "history": history,
    }
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
