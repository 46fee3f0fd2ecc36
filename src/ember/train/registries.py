"""The names a training configuration chooses from: optimizers, schedules and augmentations, one table each.

Each entry holds what its name stands for: the builder (a class of ``ember.optim``, a function making the
schedule or the transform), the recipe's defaults and a line of help. The configuration's checks
(``ember.train.config``), the builders (``ember.train.recipes``) and ``ember train --help`` all read these
tables, so a name is added in one place: here. The data sets are the same kind of table in
``ember.train.datasets``; the models are ``ember.models.registry``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ember import optim
from ember.data import transforms as T
from ember.optim import lr_scheduler as S
from ember.registry import Registry
from ember.train.datasets import DatasetInfo


# ----------------------------------------------------------------------------------------------------------
# Optimizers
@dataclass(frozen=True)
class OptimizerEntry:
    """An optimizer of ``ember.optim`` and what the recipe gives it when the configuration leaves it open."""

    cls: type[optim.Optimizer]
    defaults: dict[str, Any]  # lr, momentum, weight_decay (sgd's nesterov: whenever momentum > 0)
    help: str
    state_slots: int  # tensors of a parameter's size that it keeps per parameter (ember.train.memory)


OPTIMIZERS = Registry(
    "optimizer",
    entries={
        "sgd": OptimizerEntry(
            optim.SGD,
            {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
            "SGD with Nesterov momentum",
            state_slots=1,  # the momentum buffer (none without momentum)
        ),
        "adam": OptimizerEntry(optim.Adam, {"lr": 1e-3, "weight_decay": 0.0}, "Adam", state_slots=2),
        "adamw": OptimizerEntry(
            optim.AdamW, {"lr": 1e-3, "weight_decay": 0.05}, "Adam with decoupled decay", state_slots=2
        ),
        "rmsprop": OptimizerEntry(  # one more each with momentum and centered
            optim.RMSprop, {"lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0}, "RMSprop", state_slots=1
        ),
        "adagrad": OptimizerEntry(optim.Adagrad, {"lr": 1e-2, "weight_decay": 0.0}, "Adagrad", state_slots=1),
        "adadelta": OptimizerEntry(
            optim.Adadelta, {"lr": 1.0, "weight_decay": 0.0}, "Adadelta", state_slots=2
        ),
    },
)


# ----------------------------------------------------------------------------------------------------------
# Schedules
@dataclass(frozen=True)
class Span:
    """What a schedule is laid over, in its interval's units (steps, or epochs)."""

    total: int  # the whole run
    warmup: int  # the linear warm-up's share of it
    unit: int  # steps per epoch when stepped per step, else 1
    lr: float  # the configured learning rate

    @property
    def after_warmup(self) -> int:
        return max(self.total - self.warmup, 1)


Builder = Callable[[optim.Optimizer, Span, dict[str, Any]], Any]


@dataclass(frozen=True)
class ScheduleEntry:
    """A schedule: its class, the interval it is stepped at by default, and how the recipe builds it
    (``build(optimizer, span, options)``; the options override the recipe's choices)."""

    cls: type[S.LRScheduler]
    interval: str  # "step" or "epoch"
    build: Builder
    help: str
    no_warmup: str = ""  # why no warm-up may precede it ("": one may)

    @property
    def takes_warmup(self) -> bool:
        return not self.no_warmup

    @property
    def needs_metric(self) -> bool:
        """Stepped with the validation loss, once per epoch (``LRScheduler.needs_metric``)."""
        return self.cls.needs_metric


def _constant(optimizer: optim.Optimizer, span: Span, options: dict[str, Any]) -> Any:
    if not (span.warmup or options):
        return None  # nothing to schedule
    return S.ConstantLR(optimizer, **{"factor": 1.0, "total_iters": 0, **options})


SCHEDULES = Registry(
    "schedule",
    entries={
        "constant": ScheduleEntry(S.ConstantLR, "epoch", _constant, "the optimizer's rate throughout"),
        "cosine": ScheduleEntry(
            S.CosineAnnealingLR,
            "step",
            lambda o, span, options: S.CosineAnnealingLR(o, **{"T_max": span.after_warmup, **options}),
            "cosine decay to 0 over the run",
        ),
        "onecycle": ScheduleEntry(
            S.OneCycleLR,
            "step",
            lambda o, span, options: S.OneCycleLR(
                o, **{"max_lr": span.lr, "total_steps": span.total, **options}
            ),
            "one cycle: up to the rate and down again, with momentum cycled against it",
            no_warmup="it has its own",
        ),
        "linear": ScheduleEntry(
            S.LinearLR,
            "step",
            lambda o, span, options: S.LinearLR(
                o, **{"start_factor": 1.0, "end_factor": 0.01, "total_iters": span.after_warmup, **options}
            ),
            "linear decay to 1/100 of the rate",
        ),
        "step": ScheduleEntry(
            S.StepLR,
            "epoch",
            lambda o, span, options: S.StepLR(
                o, **{"step_size": max(span.total // 3, 1), "gamma": 0.1, **options}
            ),
            "divide by 10 after each third of the run",
        ),
        "multistep": ScheduleEntry(
            S.MultiStepLR,
            "epoch",
            lambda o, span, options: S.MultiStepLR(
                o, **{"milestones": [int(span.total * 0.5), int(span.total * 0.75)], "gamma": 0.1, **options}
            ),
            "divide by 10 at half and at three quarters of the run",
        ),
        "exponential": ScheduleEntry(
            S.ExponentialLR,
            "epoch",
            lambda o, span, options: S.ExponentialLR(
                o, **{"gamma": 0.1 ** (1 / max(span.total, 1)), **options}
            ),
            "exponential decay to 1/10 of the rate over the run",
        ),
        "plateau": ScheduleEntry(
            S.ReduceLROnPlateau,
            "epoch",
            lambda o, span, options: S.ReduceLROnPlateau(o, **{"factor": 0.1, "patience": 2, **options}),
            "divide by 10 when the validation loss stops improving for 2 epochs",
            no_warmup="it follows the validation loss, not the step count",
        ),
        "inverse-time": ScheduleEntry(
            S.InverseTimeLR,
            "epoch",
            lambda o, span, options: S.InverseTimeLR(o, **{"decay_rate": 1.0 / max(span.unit, 1), **options}),
            "lr / (1 + t) with t in epochs",
        ),
        "inverse-sqrt": ScheduleEntry(
            S.InverseSqrtLR,
            "epoch",
            lambda o, span, options: S.InverseSqrtLR(o, **options),
            "lr / sqrt(1 + t)",
        ),
    },
)


# ----------------------------------------------------------------------------------------------------------
# Augmentations
@dataclass(frozen=True)
class Augmentation:
    """A random transform of the training images: ``build(info)`` makes it for a data set (None: a name
    that stands for others, or for none); ``on_tensor``: applied after normalization, not to the image."""

    help: str
    build: Callable[[DatasetInfo], Any] | None = field(default=None, compare=False)
    on_tensor: bool = False


AUGMENTATIONS = Registry(
    "augmentation",
    entries={
        "default": Augmentation("the data set's usual augmentation (ember.train.datasets)"),
        "none": Augmentation("no augmentation"),
        "crop": Augmentation(
            "random crop after zero padding (2 pixels for 28x28 images, 4 for 32x32)",
            lambda info: T.RandomCrop(info.size, padding=2 if info.size < 32 else 4),
        ),
        "flip": Augmentation("random horizontal flip", lambda info: T.RandomHorizontalFlip()),
        "affine": Augmentation(
            "random rotation (10 degrees), shift (10%) and scale (0.9-1.1)",
            lambda info: T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        ),
        "jitter": Augmentation(
            "random brightness, contrast and saturation (0.2)",
            lambda info: T.ColorJitter(0.2, 0.2, 0.2 if info.channels == 3 else 0),
        ),
        "erasing": Augmentation(
            "random erasing of a rectangle (p=0.25)", lambda info: T.RandomErasing(p=0.25), on_tensor=True
        ),
    },
)
