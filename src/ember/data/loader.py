"""``DataLoader``: mini-batches from a dataset, shuffled, transformed, prepared ahead in background threads.

PyTorch's arguments and semantics, with two differences in how the work is done:

- The fast path. For a dataset with ``get_batch(indices)`` (array-backed ones: ``ArrayDataset``, MNIST, CIFAR,
  ``TensorDataset`` and their ``Subset``) and the default collation, a batch is one fancy-indexing slice of
  the dataset's arrays plus one vectorized call of its transform, not ``batch_size`` calls of ``__getitem__``.
  Any other dataset (or a custom ``collate_fn``) is indexed sample by sample and collated, as in PyTorch.
- Workers are threads, not processes: NumPy releases the GIL in its loops, so ``num_workers=2`` overlaps the
  preparation of the next batches with the training step on the current one.

Randomness and resuming. Each epoch starts with draws from ``generator`` (Ember's default generator if None):
the sampler's seed (which fixes the order) and one seed for the epoch's augmentation. Batch i's transforms
draw from a stream derived from (epoch seed, i) alone, so the batches are the same whatever ``num_workers``
and whichever thread prepares them. ``state_dict()`` records the epoch count, the epoch's seeds and how many
batches were handed out; ``load_state_dict`` on a fresh loader continues the interrupted epoch bit for bit
(with Ember's default generator, also restore ``ember.set_rng_state`` as a checkpoint does).
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy
from ember.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    epoch_indices,
)
from ember.data.transforms.base import random_source
from ember.random import Generator, numpy_generator


def default_convert(value: Any) -> Any:
    """NumPy arrays (also nested in tuples, lists, dicts) become Tensors; everything else stays."""
    if isinstance(value, np.ndarray):
        return from_numpy(value)
    if isinstance(value, Mapping):
        return {key: default_convert(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [default_convert(item) for item in value]
    return value


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch, as ``torch.utils.data.default_collate`` does.

    Tensors and arrays are stacked (a new first axis), ints become an int64 tensor, floats a float64 one,
    strings stay a list; tuples, lists and dicts are collated field by field.
    """
    first = batch[0]
    if isinstance(first, Tensor | np.ndarray | np.generic):
        arrays = [item.array if isinstance(item, Tensor) else np.asarray(item) for item in batch]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise RuntimeError(
                f"default_collate: samples differ in shape {sorted(shapes)}; resize or crop them"
            )
        return from_numpy(np.stack(arrays))
    if isinstance(first, bool):
        return from_numpy(np.asarray(batch, dtype=np.bool_))
    if isinstance(first, int):
        return from_numpy(np.asarray(batch, dtype=np.int64))
    if isinstance(first, float):
        return from_numpy(np.asarray(batch, dtype=np.float64))
    if isinstance(first, str | bytes):
        return list(batch)
    if isinstance(first, Mapping):
        return {key: default_collate([item[key] for item in batch]) for key in first}
    if isinstance(first, tuple | list):
        if len({len(item) for item in batch}) != 1:
            raise RuntimeError("default_collate: each element in the list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch, strict=True)]
    raise TypeError(
        f"default_collate: samples must be tensors, arrays, numbers, dicts or lists; got {type(first)}"
    )


def _batch_tensors(arrays: tuple[Any, ...]) -> list[Tensor]:
    return [from_numpy(np.ascontiguousarray(a)) for a in arrays]


class DataLoader:
    """Iterate over ``dataset`` in mini-batches (PyTorch's ``torch.utils.data.DataLoader``)."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Sequence[int] | None = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
    ) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError(
                "DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                "and drop_last"
            )
        self.dataset, self.num_workers, self.generator = dataset, num_workers, generator
        self.collate_fn = collate_fn or default_collate
        self.pin_memory = pin_memory  # nothing to pin on a CPU-only framework; accepted for compatibility
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.prefetch_factor = prefetch_factor if prefetch_factor is not None else 2
        self.persistent_workers = persistent_workers
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        self.sampler = sampler
        self.batch_size, self.drop_last = (
            (None, False) if batch_sampler is not None else (batch_size, drop_last)
        )
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_sampler = batch_sampler
        # The fast path: whole batches straight from the dataset's arrays.
        self.vectorized = collate_fn in (None, default_collate) and hasattr(dataset, "get_batch")
        self._epochs = 0
        self._seed: int | None = None
        self._yielded = 0
        self._resume: tuple[int, int] | None = None

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)  # type: ignore[arg-type]

    # ----------------------------------------------------------------------------------------------
    # Epochs and state
    @property
    def epoch(self) -> int:
        """The current (or last) epoch's number, counted from 0."""
        return max(self._epochs - 1, 0)

    def set_epoch(self, epoch: int) -> None:
        """Number the next epoch ``epoch`` (bookkeeping only: the order comes from the generator)."""
        self._epochs = epoch

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is: epochs begun, this epoch's seed, batches handed out, sampler and generator."""
        sampler = self.batch_sampler if self.batch_sampler is not None else self.sampler
        return {
            "epochs": self._epochs,
            "seed": self._seed,
            "batches_yielded": self._yielded,
            "sampler": sampler.state_dict() if hasattr(sampler, "state_dict") else {},
            "generator": self.generator.get_state() if self.generator is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``: the next iteration finishes the saved epoch, skipping the used batches."""
        if self.generator is not None and state.get("generator") is not None:
            self.generator.set_state(state["generator"])
        self._epochs, self._seed, self._yielded = (
            state["epochs"],
            state["seed"],
            state["batches_yielded"],
        )
        unfinished = self._seed is not None and self._yielded < len(self)
        sampler = self.batch_sampler if self.batch_sampler is not None else self.sampler
        if hasattr(sampler, "load_state_dict"):
            sampler_state = dict(state.get("sampler", {}))
            if not unfinished:
                sampler_state["seed"] = None
            sampler.load_state_dict(sampler_state)
        self._resume = (self._seed, self._yielded) if unfinished else None

    # ----------------------------------------------------------------------------------------------
    # Iteration
    def _epoch_batches(self) -> list[Any]:
        if self.batch_sampler is None:  # batch_size=None: one sample at a time
            return [int(i) for i in epoch_indices(self.sampler)]
        if isinstance(self.batch_sampler, BatchSampler):
            return self.batch_sampler.batches()
        return [np.asarray(batch, dtype=np.int64) for batch in self.batch_sampler]

    def __iter__(self) -> Iterator[Any]:
        batches = self._epoch_batches()  # the sampler draws (or replays) its seed first
        if self._resume is not None:
            seed, start = self._resume
            self._resume = None
        else:
            seed, start = int(numpy_generator(self.generator).integers(2**63)), 0
            self._epochs += 1
        self._seed, self._yielded = seed, start
        return self._iterate(batches, seed, start)

    def _fetch(self, indices: Any, seed: int, number: int) -> Any:
        def stream() -> np.random.Generator:  # made only if a transform draws (it costs ~70 us)
            return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, number])))

        with random_source(stream):
            if self.batch_sampler is None:
                return default_convert(self.dataset[indices])
            if self.vectorized:
                return _batch_tensors(self.dataset.get_batch(indices))
            return self.collate_fn([self.dataset[int(i)] for i in indices])

    def _iterate(self, batches: list[Any], seed: int, start: int) -> Iterator[Any]:
        if self.num_workers == 0:
            for number in range(start, len(batches)):
                batch = self._fetch(batches[number], seed, number)
                self._yielded = number + 1
                yield batch
            return
        ids = itertools.count()
        lock = threading.Lock()

        def initializer() -> None:
            if self.worker_init_fn is not None:
                with lock:
                    worker = next(ids)
                self.worker_init_fn(worker)

        pool = ThreadPoolExecutor(
            self.num_workers, thread_name_prefix="ember-loader", initializer=initializer
        )
        pending: collections.deque[Future[Any]] = collections.deque()
        window = self.num_workers * self.prefetch_factor
        try:
            upcoming = iter(range(start, len(batches)))
            for number in itertools.islice(upcoming, window):
                pending.append(pool.submit(self._fetch, batches[number], seed, number))
            while pending:
                batch = pending.popleft().result(timeout=self.timeout or None)
                following = next(upcoming, None)
                if following is not None:
                    pending.append(pool.submit(self._fetch, batches[following], seed, following))
                self._yielded += 1
                yield batch
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
