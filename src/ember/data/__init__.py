"""``ember.data``: real data in, mini-batches out (``torch.utils.data`` and ``torchvision``'s data parts).

Datasets (``MNIST``, ``FashionMNIST``, ``CIFAR10``, ``CIFAR100``, ``ImageFolder``, and the generic
``TensorDataset``, ``Subset``, ``ConcatDataset``, ``random_split``), the ``DataLoader`` with its samplers, and
``ember.data.transforms`` for preprocessing and augmentation. See ``docs/data.md``.
"""

from ember.data import transforms
from ember.data.dataset import (
    ArrayDataset,
    ConcatDataset,
    Dataset,
    Subset,
    TensorDataset,
    random_split,
)
from ember.data.datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST, ImageFolder
from ember.data.files import DatasetNotFoundError, DownloadError
from ember.data.loader import DataLoader, default_collate, default_convert
from ember.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "MNIST",
    "ArrayDataset",
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DatasetNotFoundError",
    "DownloadError",
    "FashionMNIST",
    "ImageFolder",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "default_convert",
    "random_split",
    "transforms",
]
