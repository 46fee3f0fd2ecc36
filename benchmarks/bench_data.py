"""One epoch of MNIST through the loader: Ember's DataLoader against PyTorch's, in one process, interleaved.

Both read the same in-memory MNIST training images (60,000 x 28 x 28 uint8) and yield shuffled batches of 128
float32 N x 1 x 28 x 28 images normalized with (0.1307, 0.3081) and int64 labels, with and without random crop
(padding 4) + horizontal flip. PyTorch's DataLoader is measured in its usual form, a dataset whose
``__getitem__`` transforms one sample (what torchvision's MNIST does) collated by ``default_collate``, and in
its fastest in-memory form, a dataset indexed by a whole batch of indices (``sampler=BatchSampler``,
``batch_size=None``) with the work done on the batch. The machine is shared and noisy: each figure is the
median over repeats, Ember's and PyTorch's epochs interleaved. PyTorch runs with one intra-op thread, as in
its DataLoader workers (small per-batch ops only lose time to thread start-up on two cores). Prints a table
with ratios, writes JSON to ``benchmarks/results/bench_data.json``.

    PYTHONPATH=src python benchmarks/bench_data.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import ember
from ember.data import MNIST, ArrayDataset, DataLoader
from ember.data.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, ToTensor

MEAN, STD = 0.1307, 0.3081
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/mnist")


class TorchPerSample(torch.utils.data.Dataset):
    """torchvision's way: transform one sample in ``__getitem__`` (ToTensor, [crop + flip], Normalize)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, augment: bool) -> None:
        self.images, self.labels, self.augment = images, labels, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index].unsqueeze(0).float().div(255)
        if self.augment:
            padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
            top, left = (int(v) for v in torch.randint(0, 9, (2,)))
            image = padded[:, top : top + 28, left : left + 28]
            if torch.rand(1).item() < 0.5:
                image = image.flip(-1)
        return image.sub_(MEAN).div_(STD), self.labels[index]


class TorchBatched(torch.utils.data.Dataset):
    """PyTorch's fastest in-memory form: the dataset is indexed by a whole batch of indices."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, augment: bool) -> None:
        self.images, self.labels, self.augment = images, labels, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.images[indices].unsqueeze(1).float().div_(255)
        if self.augment:
            n = len(indices)
            padded = torch.nn.functional.pad(batch, (4, 4, 4, 4))
            windows = padded.unfold(2, 28, 1).unfold(3, 28, 1)  # N x 1 x 9 x 9 x 28 x 28, a view
            top, left = torch.randint(0, 9, (n,)), torch.randint(0, 9, (n,))
            batch = windows[torch.arange(n), :, top, left]
            flip = torch.rand(n) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        return batch.sub_(MEAN).div_(STD), self.labels[indices]


def epoch_seconds(loader: object) -> float:
    start = time.perf_counter()
    count = 0
    for images, _ in loader:  # type: ignore[attr-defined]
        count += len(images)
    elapsed = time.perf_counter() - start
    assert count == 60000, count
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ember.manual_seed(0)
    torch.manual_seed(0)
    plain = Compose([ToTensor(), Normalize((MEAN,), (STD,))])
    augmented = Compose(
        [RandomCrop(28, padding=4), RandomHorizontalFlip(), ToTensor(), Normalize((MEAN,), (STD,))]
    )
    start = time.perf_counter()
    mnist = MNIST(DATA, train=True)
    load_seconds = time.perf_counter() - start
    images, labels = torch.from_numpy(mnist.data), torch.from_numpy(mnist.targets)

    def ember_loader(transform: Compose, workers: int) -> DataLoader:
        dataset = ArrayDataset(mnist.data, mnist.targets, transform=transform)  # MNIST's arrays, shared
        return DataLoader(dataset, batch_size=128, shuffle=True, num_workers=workers)

    def torch_per_sample(augment: bool) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            TorchPerSample(images, labels, augment), batch_size=128, shuffle=True
        )

    def torch_batched(augment: bool) -> torch.utils.data.DataLoader:
        dataset = TorchBatched(images, labels, augment)
        sampler = torch.utils.data.BatchSampler(torch.utils.data.RandomSampler(dataset), 128, drop_last=False)
        return torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=None)

    cases: dict[str, Callable[[], object]] = {
        "ember, shuffle + normalize": lambda: ember_loader(plain, 0),
        "ember, shuffle + normalize, 2 threads": lambda: ember_loader(plain, 2),
        "torch per-sample, shuffle + normalize": lambda: torch_per_sample(False),
        "torch batched, shuffle + normalize": lambda: torch_batched(False),
        "ember, + crop 4 + flip": lambda: ember_loader(augmented, 0),
        "ember, + crop 4 + flip, 2 threads": lambda: ember_loader(augmented, 2),
        "torch per-sample, + crop 4 + flip": lambda: torch_per_sample(True),
        "torch batched, + crop 4 + flip": lambda: torch_batched(True),
    }
    loaders = {name: make() for name, make in cases.items()}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for loader in loaders.values():  # one warm-up epoch each
        epoch_seconds(loader)
    for _ in range(args.repeats):
        for name, loader in loaders.items():
            times[name].append(epoch_seconds(loader))
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}

    def ratio(name: str) -> float:
        """How many times faster than PyTorch's usual per-sample loader on the same work."""
        peer = next(
            n for n in medians if n.startswith("torch per-sample") and ("crop" in n) == ("crop" in name)
        )
        return medians[peer] / medians[name]

    print(
        f"MNIST decoded in {load_seconds * 1000:.0f} ms; one epoch = 60,000 images, batch 128 (469 batches)"
    )
    print(f"{'case':42s} {'ms/epoch':>9s} {'min':>8s} {'torch per-sample / this':>24s}")
    for name, values in times.items():
        print(f"{name:42s} {medians[name]:9.1f} {min(values) * 1000:8.1f} {ratio(name):23.1f}x")
    results = {
        "benchmark": "one epoch of MNIST (60000 x 28 x 28), batch 128, shuffled, normalized",
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "versions": {
            "numpy": np.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "repeats": args.repeats,
        "load_ms": load_seconds * 1000,
        "median_ms_per_epoch": medians,
        "all_ms": {name: [v * 1000 for v in values] for name, values in times.items()},
    }
    out = Path(__file__).resolve().parent / "results" / "bench_data.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
