"""Data parallelism under ``mpirun -np 2`` (two processes over shared memory): the same training as one
process, the same parameters on every rank, disjoint and complete shards, and a job that ends, with a
message, when a rank dies or hangs."""

from __future__ import annotations

import time

import numpy as np
import pytest

from . import workers
from .conftest import ROOT, run

WORKERS = str(ROOT / "tests" / "distributed" / "workers.py")
# Two ranks at a global batch of 16 against one process at 16, after six SGD-momentum steps: the same
# numbers up to the order of float32 additions (measured: 3e-8, a few units in the last place).
TOLERANCE = 1e-6


@pytest.mark.parametrize(
    ("task", "overlap"),
    [("train", "0"), ("train", "1"), ("train-bn", "0")],  # the allreduces after or during backward; BN
)
def test_two_ranks_train_as_one_process_at_the_same_global_batch(mpirun, tmp_path, task, overlap):
    finished = run(mpirun, [WORKERS, task, str(tmp_path / "out")], OVERLAP=overlap)
    assert finished.returncode == 0, finished.stderr
    ranks = [dict(np.load(tmp_path / f"out.rank{rank}.npz")) for rank in (0, 1)]
    batchnorm = task == "train-bn"  # SyncBatchNorm in 2 ranks, BatchNorm2d in 1 process
    single = {
        key: value.numpy() for key, value in workers.train(0, 1, batchnorm=batchnorm).state_dict().items()
    }
    initial = {key: value.numpy() for key, value in workers.network(batchnorm).state_dict().items()}
    assert ranks[0].keys() == ranks[1].keys() == single.keys()
    for key, expected in single.items():
        assert np.array_equal(ranks[0][key], ranks[1][key]), key  # identical on every rank
        assert np.abs(ranks[0][key] - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max()), key
    assert np.abs(single["7.weight"] - initial["7.weight"]).max() > 1e-2  # the steps moved the weights


def test_the_shards_are_disjoint_complete_and_reshuffled_per_epoch(mpirun, tmp_path):
    finished = run(mpirun, [WORKERS, "shards", str(tmp_path / "out")])
    assert finished.returncode == 0, finished.stderr
    orders = []
    for epoch in range(3):
        shards = [np.load(tmp_path / f"out.rank{rank}.epoch{epoch}.npy") for rank in (0, 1)]
        assert len(shards[0]) == len(shards[1]) == 12  # 23 samples: one repeated to make 24
        joined = np.concatenate(shards)
        assert set(joined.tolist()) == set(range(23))
        assert len(set(shards[0].tolist()) & set(shards[1].tolist())) <= 1
        orders.append(joined)
    assert not np.array_equal(orders[0], orders[1])


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("crash", "exited on signal 9"),  # mpirun notices a dead process and stops the job
        ("hang", "ember: rank 0 of 2: allreduce of 4,524 bytes (collective 4) has waited"),  # the timeout
    ],
)
def test_a_rank_that_dies_or_hangs_ends_the_job_with_a_message(mpirun, tmp_path, task, message):
    started = time.monotonic()
    finished = run(mpirun, [WORKERS, task, str(tmp_path / "out")], timeout=90, EMBER_DISTRIBUTED_TIMEOUT="5")
    assert finished.returncode != 0
    assert message in finished.stderr + finished.stdout
    assert time.monotonic() - started < 60
