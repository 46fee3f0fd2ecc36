"""``Communicator``: the collective operations data-parallel training needs.

A communicator connects ``size`` processes, each knowing its ``rank``; every process calls the same
collectives in the same order. ``allreduce`` sums (or takes the max or min of) an array across the
processes in place, ``broadcast`` copies rank ``root``'s array into everyone's, ``barrier`` waits for all.
``LocalCommunicator`` is the one-process group (every collective does nothing): the default, so that code
written for N processes runs unchanged in one. ``MPICommunicator`` (``ember.distributed.mpi``) runs them
with Open MPI through mpi4py.

The process group that holds this process's communicator is ``ember.distributed.group``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import numpy as np

from ember.errors import EmberError

# Set by mpirun: Open MPI's names, then MPICH's and PMIx's (any launcher speaking PMI).
LAUNCHER_SIZE = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")
DEFAULT_TIMEOUT = timedelta(minutes=10)
TIMEOUT_VARIABLE = "EMBER_DISTRIBUTED_TIMEOUT"  # seconds; overrides the default (not an explicit one)
OPS = ("sum", "max", "min")


class DistributedError(EmberError, RuntimeError):
    """A distributed run that cannot go on (no MPI, a collective used wrongly); the message says why."""


class ReduceOp:
    """``all_reduce``'s operations, PyTorch's names."""

    SUM = "sum"
    MAX = "max"
    MIN = "min"


def launched_size() -> int:
    """How many processes the launcher (mpirun) started, 1 if none did."""
    for name in LAUNCHER_SIZE:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def timeout_seconds(timeout: timedelta | float | None) -> float:
    """The collectives' timeout: ``timeout``, else $EMBER_DISTRIBUTED_TIMEOUT, else ten minutes."""
    if timeout is None:
        text = os.environ.get(TIMEOUT_VARIABLE)
        if text is None:
            return DEFAULT_TIMEOUT.total_seconds()
        try:
            timeout = float(text)
        except ValueError:
            raise DistributedError(f"${TIMEOUT_VARIABLE}={text!r}: a number of seconds expected") from None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    if not seconds > 0:
        raise DistributedError(f"the collectives' timeout must be positive, got {seconds} s")
    return seconds


def checked_buffer(array: Any, operation: str) -> np.ndarray:
    """A collective works on the memory of a contiguous NumPy array (MPI's buffer interface)."""
    if not isinstance(array, np.ndarray):
        raise DistributedError(f"{operation}: expected a NumPy array, got {type(array).__name__}")
    if not array.flags.c_contiguous or not array.flags.writeable:
        raise DistributedError(f"{operation}: the array must be contiguous and writeable (copy it first)")
    return array


class Communicator:
    """Collectives among ``size`` processes; this one is ``rank``. Subclasses implement the three."""

    rank = 0
    size = 1
    name = "local"

    def allreduce(self, array: np.ndarray, op: str = "sum") -> np.ndarray:
        """Reduce ``array`` across the processes, in place (every process gets the result); returns it."""
        raise NotImplementedError

    def broadcast(self, array: np.ndarray, root: int = 0) -> np.ndarray:
        """Copy rank ``root``'s ``array`` into every process's, in place; returns it."""
        raise NotImplementedError

    def barrier(self) -> None:
        raise NotImplementedError

    def start_allreduce(self, array: np.ndarray) -> Any:
        """Begin summing ``array`` in place and return a handle to ``wait`` on (done at once here)."""
        self.allreduce(array)
        return None

    def wait(self, handles: list[Any]) -> None:
        """Wait until the allreduces begun with ``start_allreduce`` are done."""

    def test(self, handles: list[Any]) -> None:
        """Let begun allreduces make progress (MPI moves them forward only inside its own calls)."""

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size})"


class LocalCommunicator(Communicator):
    """One process: the sum, max and min over one process are its own values."""

    def allreduce(self, array: np.ndarray, op: str = "sum") -> np.ndarray:
        if op not in OPS:
            raise DistributedError(f"allreduce: op must be one of {OPS}, got {op!r}")
        return checked_buffer(array, "allreduce")

    def broadcast(self, array: np.ndarray, root: int = 0) -> np.ndarray:
        if root != 0:
            raise DistributedError(f"broadcast: root {root} is not a rank of a 1-process group")
        return checked_buffer(array, "broadcast")

    def barrier(self) -> None:
        pass
