"""Datasets: anything with ``__getitem__`` and ``__len__``, as in ``torch.utils.data``.

``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset`` and ``random_split`` keep PyTorch's names and
semantics. ``ArrayDataset`` is the in-memory image dataset that MNIST and CIFAR build on: ``.data`` holds
every image as one uint8 array (N x H x W or N x H x W x C) and ``.targets`` every label. Indexing one sample
gives what torchvision gives (an image, here a uint8 NumPy array instead of a PIL image, and an int, each
passed through its transform). The loader does not index sample by sample, though: ``get_batch(indices)``
slices a whole mini-batch from the arrays at once and applies a batch-aware transform (see
``ember.data.transforms``) to the whole batch, which is what makes an epoch of MNIST cost milliseconds rather
than seconds.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.random import Generator, numpy_generator


class Dataset:
    """A map-style dataset: ``dataset[i]`` is the i-th sample and ``len(dataset)`` their number."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


def _array(value: Any) -> np.ndarray:
    return value.array if isinstance(value, Tensor) else np.asarray(value)


class TensorDataset(Dataset):
    """Samples are the i-th rows of equally long tensors (or arrays): ``(x[i], y[i])``."""

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            raise ValueError(f"TensorDataset: tensors differ in their first dimension: {sorted(lengths)}")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """The rows ``indices`` of every tensor, sliced at once (the loader's fast path)."""
        return tuple(t.array[indices] for t in self.tensors)


class ArrayDataset(Dataset):
    """Images in one uint8 array and labels in another, with torchvision's ``transform``/``target_transform``.

    ``data`` is N x H x W (grey) or N x H x W x C; ``targets`` has N integer labels. ``dataset[i]`` returns
    ``(transform(image), target_transform(label))`` with the image a uint8 H x W (x C) array, as torchvision's
    datasets return a PIL image.
    """

    def __init__(
        self,
        data: np.ndarray,
        targets: Any,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        data = np.asarray(data)
        targets = np.asarray(targets, dtype=np.int64)
        if data.ndim not in (3, 4) or len(data) != len(targets):
            raise ValueError(
                f"{type(self).__name__}: expected N x H x W (x C) images and N labels, "
                f"got images {data.shape} and labels {targets.shape}"
            )
        self.data = data
        self.targets = targets
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image: Any = self.data[index]
        target: Any = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices: np.ndarray) -> tuple[Any, Any]:
        """Images and labels for ``indices`` as whole batches, transformed batch-wise where possible."""
        from ember.data.transforms.base import batch_images

        images = batch_images(self.data[indices], self.transform)
        targets = self.targets[indices]
        if self.target_transform is not None:
            targets = np.asarray([self.target_transform(int(t)) for t in targets])
        return images, targets

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(getattr(self, "classes", []))}

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}"]
        if getattr(self, "root", None) is not None:
            lines.append(f"    Root location: {self.root}")  # type: ignore[attr-defined]
        if hasattr(self, "train"):
            lines.append(f"    Split: {'Train' if self.train else 'Test'}")
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        return "\n".join(lines)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    ``indices`` are kept as given (PyTorch's); their int64 array, which ``get_batch`` indexes, is made once
    and made again when ``indices`` is assigned (a list of 55,000 indices takes ~3 ms to convert, which
    every batch paid before). Change the indices by assigning them, not in place."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    @property
    def indices(self) -> Sequence[int]:
        return self._indices

    @indices.setter
    def indices(self, indices: Sequence[int]) -> None:
        self._indices = indices
        self._positions: np.ndarray | None = None

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)

    def __getattr__(self, name: str) -> Any:
        # Only ``get_batch`` is forwarded: a subset of an array dataset keeps the loader's fast path.
        if name == "get_batch" and hasattr(self.dataset, "get_batch"):
            return self._get_batch
        raise AttributeError(name)

    def _get_batch(self, indices: np.ndarray) -> Any:
        if self._positions is None:
            self._positions = np.asarray(self._indices, dtype=np.int64)
        return self.dataset.get_batch(self._positions[indices])


class ConcatDataset(Dataset):
    """Several datasets one after the other."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise IndexError("ConcatDataset: index out of range")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def random_split(
    dataset: Any, lengths: Sequence[int | float], generator: Generator | None = None
) -> list[Subset]:
    """Split into non-overlapping random subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    if math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1:
        counts = [math.floor(n * fraction) for fraction in lengths]
        for i in range(n - sum(counts)):  # the remainder goes round-robin, as in PyTorch
            counts[i % len(counts)] += 1
    else:
        counts = [int(length) for length in lengths]
    if sum(counts) != n:
        raise ValueError(f"random_split: the lengths add up to {sum(counts)}, the dataset has {n} samples")
    order = numpy_generator(generator).permutation(n)
    splits, start = [], 0
    for count in counts:
        splits.append(Subset(dataset, order[start : start + count].tolist()))
        start += count
    return splits
