"""Preprocessing and augmentation, with torchvision's names, each usable per sample and on whole batches.

See ``base`` for the design (one ``apply_batch`` per transform, vectorized over the batch), ``tensor`` for
``ToTensor``/``Normalize`` and the data set statistics, ``geometric`` and ``warp`` for flips, crops, scales,
rotations, affine and lens distortion, ``color`` for colour jitter and noise, ``mixing`` for erasing, MixUp
and CutMix, and ``grid`` for pictures of augmented samples.
"""

from ember.data.transforms.base import Compose, Lambda, RandomTransform, Transform, random_source
from ember.data.transforms.color import ColorJitter, GaussianNoise
from ember.data.transforms.geometric import (
    CenterCrop,
    InterpolationMode,
    Pad,
    RandomCrop,
    RandomHorizontalFlip,
    RandomVerticalFlip,
    Resize,
)
from ember.data.transforms.grid import make_grid, save_augmentation_grid, save_image
from ember.data.transforms.mixing import CutMix, MixUp, Mixup, RandomErasing
from ember.data.transforms.tensor import (
    Normalize,
    SubtractMean,
    ToTensor,
    channel_stats,
    mean_image,
)
from ember.data.transforms.warp import (
    RandomAffine,
    RandomLensDistortion,
    RandomResizedCrop,
    RandomRotation,
    RandomScaleCrop,
)

__all__ = [
    "CenterCrop",
    "ColorJitter",
    "Compose",
    "CutMix",
    "GaussianNoise",
    "InterpolationMode",
    "Lambda",
    "MixUp",
    "Mixup",
    "Normalize",
    "Pad",
    "RandomAffine",
    "RandomCrop",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomLensDistortion",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomScaleCrop",
    "RandomTransform",
    "RandomVerticalFlip",
    "Resize",
    "SubtractMean",
    "ToTensor",
    "Transform",
    "channel_stats",
    "make_grid",
    "mean_image",
    "random_source",
    "save_augmentation_grid",
    "save_image",
]
