"""Random number generation: one seeded source for every random operation in Ember.

``ember.manual_seed(s)`` makes a run repeatable: initialization, dropout masks, shuffling and augmentation
all draw from ``default_generator`` unless given a ``Generator`` of their own. A generator's state can be
saved and restored (checkpoints resume bit for bit).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np


class Generator:
    """A seedable random source (PCG64), like ``torch.Generator``."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy) % 2**63  # type: ignore[arg-type]
        self.numpy = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> Generator:
        """Reset to a fixed seed; returns ``self`` as PyTorch does."""
        self._seed = int(seed)
        self.numpy = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        """The full state (a plain dict of ints), to save in a checkpoint."""
        return {"seed": self._seed, "bit_generator": copy.deepcopy(self.numpy.bit_generator.state)}

    def set_state(self, state: dict[str, Any]) -> None:
        self._seed = int(state["seed"])
        bit_generator = np.random.PCG64()
        bit_generator.state = copy.deepcopy(state["bit_generator"])
        self.numpy = np.random.Generator(bit_generator)


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed Ember's default generator: makes initialization, dropout and shuffling repeatable."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from fresh entropy and return the seed."""
    new_seed = int(np.random.SeedSequence().entropy) % 2**63  # type: ignore[arg-type]
    default_generator.manual_seed(new_seed)
    return new_seed


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict[str, Any]:
    return default_generator.get_state()


def set_rng_state(state: dict[str, Any]) -> None:
    default_generator.set_state(state)


def numpy_generator(generator: Generator | None = None) -> np.random.Generator:
    """The NumPy generator to draw from: the given one, or the default."""
    return (generator or default_generator).numpy
