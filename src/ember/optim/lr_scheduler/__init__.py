"""Learning-rate schedules, as ``torch.optim.lr_scheduler``, plus the lectures' 1/t and 1/sqrt(t) decays.

Call ``scheduler.step()`` once per epoch (or per batch for the cyclic ones) after ``optimizer.step()``;
``ReduceLROnPlateau.step(val_loss)`` takes the watched metric.
"""

from ember.optim.lr_scheduler.base import LambdaLR, LRScheduler, MultiplicativeLR
from ember.optim.lr_scheduler.composite import ChainedScheduler, SequentialLR
from ember.optim.lr_scheduler.cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from ember.optim.lr_scheduler.cyclic import CyclicLR, OneCycleLR
from ember.optim.lr_scheduler.decay import (
    ConstantLR,
    ExponentialLR,
    InverseSqrtLR,
    InverseTimeLR,
    LinearLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from ember.optim.lr_scheduler.plateau import ReduceLROnPlateau

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "InverseSqrtLR",
    "InverseTimeLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]
