"""The process group, with PyTorch's names: ``init_process_group(backend)`` makes the communicator of this
process (``"mpi"`` when the process was started by ``mpirun``, else ``"local"``), ``get_rank()``,
``get_world_size()``, ``all_reduce(tensor)``, ``broadcast(tensor, src)``, ``barrier()``,
``destroy_process_group()``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ember.autograd import Tensor
from ember.distributed.communicator import (
    Communicator,
    DistributedError,
    LocalCommunicator,
    ReduceOp,
    launched_size,
    timeout_seconds,
)
from ember.distributed.mpi import MPICommunicator

_WORLD: Communicator | None = None


def init_process_group(
    backend: str | None = None, timeout: timedelta | float | None = None, **ignored: Any
) -> Communicator:
    """Make this process's communicator: ``"mpi"`` (Open MPI through mpi4py), ``"local"`` (one process),
    or, by default, ``"mpi"`` if mpirun started more than one process and ``"local"`` otherwise.

    ``timeout``: how long a collective waits for the other processes before the job is stopped with a
    message (a crashed or hung rank must not leave the others waiting forever); default ten minutes, or
    ``$EMBER_DISTRIBUTED_TIMEOUT`` seconds. PyTorch's ``init_method``, ``world_size`` and ``rank`` are
    accepted and ignored: with MPI the launcher decides them.
    """
    global _WORLD
    if _WORLD is not None:
        raise DistributedError("init_process_group: the process group is already initialized")
    backend = backend or ("mpi" if launched_size() > 1 else "local")
    if backend == "local":
        _WORLD = LocalCommunicator()
    elif backend == "mpi":
        _WORLD = MPICommunicator(timeout=timeout_seconds(timeout))
    else:
        raise DistributedError(f"init_process_group: backend must be 'mpi' or 'local', got {backend!r}")
    return _WORLD


def is_initialized() -> bool:
    return _WORLD is not None


def get_world() -> Communicator:
    """The process group's communicator; a one-process one if none was initialized."""
    return _WORLD if _WORLD is not None else LocalCommunicator()


def get_rank() -> int:
    return get_world().rank


def get_world_size() -> int:
    return get_world().size


def destroy_process_group() -> None:
    global _WORLD
    if _WORLD is not None:
        _WORLD.close()
    _WORLD = None


def all_reduce(tensor: Tensor, op: str = ReduceOp.SUM) -> Tensor:
    """Reduce ``tensor`` across the processes, in place (``torch.distributed.all_reduce``)."""
    get_world().allreduce(tensor.array, op)
    return tensor


def broadcast(tensor: Tensor, src: int = 0) -> Tensor:
    """Copy rank ``src``'s ``tensor`` into every process's, in place."""
    get_world().broadcast(tensor.array, src)
    return tensor


def barrier() -> None:
    get_world().barrier()
