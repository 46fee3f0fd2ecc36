"""``ember.utils.data``: ``torch.utils.data``'s names for Ember's data pipeline (``ember.data``).

``from ember.utils.data import DataLoader, TensorDataset, random_split`` gives the same classes as
``ember.data``; this module only gives them PyTorch's address.
"""

from ember.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
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
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
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
]
