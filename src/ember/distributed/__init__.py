"""Data-parallel training across processes and machines, on MPI: PyTorch's ``torch.distributed`` names.

One process per core (or per machine), started by ``mpirun -np N``; each holds a replica of the model,
trains on its shard of every batch and averages the gradients with the others (``DistributedDataParallel``,
``DistributedSampler``). The communication is Open MPI's, through mpi4py (``ember.distributed.mpi``): an
existing distributed engine, not a home-made one. Without mpirun the process group is one process and
every collective does nothing, so the same script runs alone. ``docs/distributed.md`` shows it whole;
``pip install 'ember[mpi]'`` and an MPI (Debian: ``apt-get install openmpi-bin``).
"""

from ember.distributed.batchnorm import SyncBatchNorm
from ember.distributed.communicator import (
    Communicator,
    DistributedError,
    LocalCommunicator,
    ReduceOp,
    launched_size,
)
from ember.distributed.group import (
    all_reduce,
    barrier,
    broadcast,
    destroy_process_group,
    get_rank,
    get_world,
    get_world_size,
    init_process_group,
    is_initialized,
)
from ember.distributed.parallel import DistributedDataParallel
from ember.distributed.sampler import DistributedSampler

__all__ = [
    "Communicator",
    "DistributedDataParallel",
    "DistributedError",
    "DistributedSampler",
    "LocalCommunicator",
    "ReduceOp",
    "SyncBatchNorm",
    "all_reduce",
    "barrier",
    "broadcast",
    "destroy_process_group",
    "get_rank",
    "get_world",
    "get_world_size",
    "init_process_group",
    "is_initialized",
    "launched_size",
]
