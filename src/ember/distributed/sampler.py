"""``DistributedSampler``: each process's shard of a data set, PyTorch's semantics.

Every rank draws the same permutation of the data set (seeded by ``seed + epoch``, so call ``set_epoch``
at the start of each epoch for a new order; the ``Trainer`` does), pads it by repeating its beginning to a
multiple of ``num_replicas`` (or, with ``drop_last``, cuts the tail), and keeps every ``num_replicas``-th
index from its ``rank``: the shards are disjoint, of equal length, and together cover the data set (plus
the few repeated samples). Give it to a ``DataLoader`` as ``sampler=`` with the per-process batch size.
The order is NumPy's, not torch's: the same semantics, other numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

import numpy as np

from ember.distributed.communicator import DistributedError
from ember.distributed.group import get_world


class DistributedSampler:
    """Indices of this rank's shard of ``dataset``, for one epoch at a time."""

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        world = get_world()
        self.num_replicas = world.size if num_replicas is None else num_replicas
        self.rank = world.rank if rank is None else rank
        if self.num_replicas < 1 or not 0 <= self.rank < self.num_replicas:
            raise DistributedError(
                f"DistributedSampler: rank {self.rank} is not in [0, {self.num_replicas - 1}] "
                f"(num_replicas {self.num_replicas})"
            )
        self.dataset, self.shuffle, self.seed, self.drop_last = dataset, shuffle, seed, drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = -(-n // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order the next pass gives (``seed + epoch`` seeds the permutation)."""
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n).astype(np.int64)
        else:
            order = np.arange(n, dtype=np.int64)
        if self.total_size > n:  # repeat the beginning (several times over if the data set is tiny)
            order = np.resize(order, self.total_size)
        order = order[: self.total_size]
        return order[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state.get("epoch", self.epoch))
