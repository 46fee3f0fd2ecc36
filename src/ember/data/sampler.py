"""Samplers: the order in which a loader visits a dataset, with PyTorch's names.

A random sampler draws one seed per epoch from its generator (or Ember's default one) and derives the whole
epoch's order from that seed, as an index array. So its state is small: the current epoch's seed and the
generator's state. ``load_state_dict`` makes the next epoch replay the saved seed, which is how a resumed run
sees exactly the order it would have seen (the ``DataLoader`` then skips the batches already consumed).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.random import Generator, numpy_generator


class Sampler:
    """Yields dataset indices; ``indices()`` gives one epoch's worth as an array (the loader's fast path)."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def indices(self) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement indices() or __iter__")

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class SeededSampler(Sampler):
    """A sampler whose epoch is a function of one seed drawn from ``generator`` at the epoch's start."""

    def __init__(self, generator: Generator | None = None) -> None:
        self.generator = generator
        self.seed: int | None = None
        self._replay: int | None = None

    def epoch_rng(self) -> np.random.Generator:
        if self._replay is not None:
            self.seed, self._replay = self._replay, None
        else:
            self.seed = int(numpy_generator(self.generator).integers(2**63))
        return np.random.default_rng(self.seed)

    def state_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "generator": self.generator.get_state() if self.generator else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the generator, and make the next epoch replay ``state["seed"]`` (if not None)."""
        if self.generator is not None and state.get("generator") is not None:
            self.generator.set_state(state["generator"])
        self.seed = self._replay = state.get("seed")


class RandomSampler(SeededSampler):
    """A random permutation each epoch (or ``num_samples`` draws, with ``replacement``)."""

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Generator | None = None,
    ) -> None:
        super().__init__(generator)
        self.data_source, self.replacement, self._num_samples = (
            data_source,
            replacement,
            num_samples,
        )
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(f"num_samples should be a positive integer, got {num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def indices(self) -> np.ndarray:
        n, rng = len(self.data_source), self.epoch_rng()
        if self.replacement:
            return rng.integers(0, n, self.num_samples, dtype=np.int64)
        rounds = -(-self.num_samples // n)
        return np.concatenate([rng.permutation(n) for _ in range(rounds)])[: self.num_samples]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(SeededSampler):
    """The given indices, in a random order each epoch."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        super().__init__(generator)
        self.subset = np.asarray(indices, dtype=np.int64)

    def indices(self) -> np.ndarray:
        return self.subset[self.epoch_rng().permutation(len(self.subset))]

    def __len__(self) -> int:
        return len(self.subset)


class WeightedRandomSampler(SeededSampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``."""

    def __init__(
        self,
        weights: Sequence[float] | np.ndarray | Tensor,
        num_samples: int,
        replacement: bool = True,
        generator: Generator | None = None,
    ) -> None:
        super().__init__(generator)
        weights = weights.array if isinstance(weights, Tensor) else weights
        self.weights = np.asarray(weights, dtype=np.float64)
        if self.weights.ndim != 1 or np.any(self.weights < 0) or self.weights.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be a 1-d sequence of non-negative numbers")
        self.num_samples, self.replacement = num_samples, replacement

    def indices(self) -> np.ndarray:
        p = self.weights / self.weights.sum()
        return (
            self.epoch_rng().choice(len(p), self.num_samples, replace=self.replacement, p=p).astype(np.int64)
        )

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups a sampler's indices into lists of ``batch_size``."""

    def __init__(self, sampler: Sampler | Sequence[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer, got {batch_size}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def batches(self) -> list[np.ndarray]:
        order = epoch_indices(self.sampler)
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        return [order[i : i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:  # type: ignore[override]
        return (batch.tolist() for batch in self.batches())

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def state_dict(self) -> dict[str, Any]:
        return self.sampler.state_dict() if isinstance(self.sampler, Sampler) else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if isinstance(self.sampler, Sampler):
            self.sampler.load_state_dict(state)


def epoch_indices(sampler: Any) -> np.ndarray:
    """One epoch of a sampler as an int64 array (any iterable of ints works)."""
    if isinstance(sampler, Sampler):
        try:
            return np.asarray(sampler.indices(), dtype=np.int64)
        except NotImplementedError:
            pass
    return np.fromiter(iter(sampler), dtype=np.int64)
