"""A run across processes: ``mpirun -np N ember train ...`` (data parallelism with ``ember.distributed``).

Every process builds the same run (data, model, optimizer, schedule; the same seed); then:

- the training split is sharded with a ``DistributedSampler`` and each process takes ``batch_size / N``
  images of every step, so the global batch is the configuration's ``batch_size`` (it must divide by N)
  and the run follows the same schedule as in one process;
- BLAS gets the machine's cores divided among the processes on it (``share_cores``), unless
  ``OMP_NUM_THREADS`` or ``OPENBLAS_NUM_THREADS`` is set;
- the model is wrapped in ``DistributedDataParallel``: gradients averaged after each backward pass,
  batch norm statistics per process (rank 0's kept);
- the ``Trainer`` sums each step's loss and accuracy over the processes, so the logs are the global batch's,
  and every process stops at the same step for the same reason (a divergence, early stopping, Ctrl-C or
  SIGTERM on any of them);
- rank 0 alone writes: the run directory, its config, logs, checkpoints, the test measure and the report;
  the others train silently. Validation runs in every process (the same model, the same split: the same
  numbers), so that early stopping decides alike everywhere.

A checkpoint holds rank 0's state (the replicas' parameters are identical; the loader's and the random
generators' positions are the same in every process), so ``mpirun -np N ember resume RUN`` resumes every
rank from it; with the same N it continues exactly as the uninterrupted run.
"""

from __future__ import annotations

import os
from typing import Any, cast

from ember.distributed import (
    Communicator,
    DistributedDataParallel,
    DistributedSampler,
    get_world,
    init_process_group,
    is_initialized,
    launched_size,
)
from ember.train.config import ConfigError, TrainConfig

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
LOCAL_SIZE = ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS")  # processes on this machine: Open MPI, MPICH


def process_group() -> Communicator:
    """The run's processes: those mpirun started (MPI), or this one alone."""
    if launched_size() > 1 and not is_initialized():
        init_process_group("mpi")
        share_cores()
    return get_world()


def share_cores(cores: int | None = None) -> int | None:
    """BLAS threads per process when mpirun put several on this machine: its cores divided among them,
    at least one (torchrun sets OMP_NUM_THREADS=1 for the same reason: N processes each running
    a thread per core fight over the cores). Nothing if a thread variable was set (the user chose) or
    threadpoolctl (the ``fast`` extra) is missing. Returns the thread count set, if any."""
    local = next((int(os.environ[name]) for name in LOCAL_SIZE if os.environ.get(name, "").isdigit()), 1)
    if local <= 1 or any(name in os.environ for name in THREAD_VARIABLES):
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    threads = max(1, (cores or os.cpu_count() or 1) // local)
    threadpool_limits(threads, user_api="blas")  # stays in force for the process
    return threads


def check(config: TrainConfig, world: Communicator) -> None:
    """What a run across ``world.size`` processes cannot do, each with what to do instead."""
    problems = []
    if config.batch_size % world.size:
        problems.append(("batch_size", f"{config.batch_size} does not divide among {world.size} processes"))
    if config.lr_finder:
        problems.append(
            (
                "optimizer.lr",
                "auto (the range test) runs in one process: run 'ember train --lr auto' without mpirun "
                "and give the rate it chose with --lr",
            )
        )
    if problems:
        raise ConfigError(problems)


def train_loader(config: TrainConfig, dataset: Any, world: Communicator) -> Any:
    """This process's loader of the training split: its shard, ``batch_size / N`` images a step."""
    import ember
    from ember.data import DataLoader
    from ember.train.tasks import TASKS

    sampler = DistributedSampler(dataset, world.size, world.rank, shuffle=True, seed=config.seed)
    return DataLoader(
        dataset,
        batch_size=config.batch_size // world.size,
        sampler=cast(Any, sampler),  # a sampler by its interface (ember.distributed sits beside data)
        num_workers=config.workers,
        collate_fn=TASKS[config.task].collate_fn(),
        generator=ember.Generator(config.seed),  # the same in every process: the checkpoint is rank 0's
    )


def parallel(model: Any, world: Communicator) -> Any:
    """``model`` wrapped so that its gradients are averaged across the processes."""
    return DistributedDataParallel(model, world) if world.size > 1 else model
