"""What the MPI tests run under ``mpirun -np 2``: ``python tests/distributed/workers.py TASK OUTPUT``.

``train``: a few SGD steps of a small network at a global batch of 16 (8 per rank), each rank writing its
final parameters (``train-bn``: with batch norm, synchronized); ``shards``: each rank writing its
DistributedSampler shards; ``crash`` and ``hang``: rank 1 killed by SIGKILL, or stuck, at the third step.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

import ember
from ember import distributed as dist
from ember import nn, optim

GLOBAL_BATCH, STEPS, SAMPLES = 16, 6, 96


def network(batchnorm: bool = False) -> nn.Module:
    ember.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4) if batchnorm else nn.Identity(),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 16),
        nn.Tanh(),
        nn.Linear(16, 3),
    )


def data() -> tuple[np.ndarray, np.ndarray]:
    random = np.random.default_rng(1)
    return random.standard_normal((SAMPLES, 1, 8, 8)).astype(np.float32), random.integers(0, 3, SAMPLES)


def train(rank: int, size: int, stop: str | None = None, batchnorm: bool = False) -> nn.Module:
    """``STEPS`` steps on batches ``i * GLOBAL_BATCH ...``, this rank taking its contiguous part of each;
    batch norm synchronized across the ranks."""
    images, labels = data()
    net = dist.SyncBatchNorm.convert_sync_batchnorm(network(batchnorm))
    model = dist.DistributedDataParallel(net, overlap=os.environ.get("OVERLAP") == "1")
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    part = GLOBAL_BATCH // size
    for step in range(STEPS):
        if stop and rank == 1 and step == 2:
            if stop == "crash":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(3600)  # hangs
        start = step * GLOBAL_BATCH + rank * part
        x, y = images[start : start + part], labels[start : start + part]
        loss = loss_fn(model(ember.from_numpy(x)), ember.from_numpy(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def main() -> None:
    task, output = sys.argv[1], sys.argv[2]
    world = dist.init_process_group("mpi")
    if task in ("train", "train-bn"):
        model = train(world.rank, world.size, batchnorm=task == "train-bn")
        arrays = {key: value.numpy() for key, value in model.state_dict().items()}
        np.savez(f"{output}.rank{world.rank}.npz", **arrays)
    elif task == "shards":
        for epoch in range(3):
            sampler = dist.DistributedSampler(range(23), shuffle=True, seed=5)
            sampler.set_epoch(epoch)
            np.save(f"{output}.rank{world.rank}.epoch{epoch}.npy", sampler.indices())
    else:
        train(world.rank, world.size, stop=task)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
