"""ember.train.distributed in one process: the BLAS threads of several ranks on one machine."""

from __future__ import annotations

import pytest

from ember.train import distributed

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"}


@pytest.fixture
def launched(monkeypatch):
    """As mpirun sets it for the second of 2 ranks on this machine, no thread variable given."""
    for name in distributed.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2")
    with threadpoolctl.threadpool_limits(limits=None):  # restores this process's BLAS threads after
        yield monkeypatch


def test_ranks_on_one_machine_share_its_cores(launched):
    assert distributed.share_cores(cores=4) == 2 and blas_threads() == {2}
    assert distributed.share_cores(cores=1) == 1 and blas_threads() == {1}  # at least one


def test_a_thread_variable_or_a_single_rank_is_left_alone(launched):
    launched.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "1")
    assert distributed.share_cores(cores=4) is None
    launched.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2")
    launched.setenv("OPENBLAS_NUM_THREADS", "2")
    assert distributed.share_cores(cores=4) is None
