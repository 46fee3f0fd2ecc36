"""From a ``TrainConfig`` to the pieces of a run: data, model, loss, optimizer, schedule, penalty.

Each builder is a few lines over the public API (``ember.data``, ``ember.models``, ``ember.optim``), the
same calls a user would write by hand; ``ember.train.run`` puts them together.

Data. The held-out validation split is drawn from the training set with a permutation seeded by the run's
seed, so every run of a configuration validates on the same images and never on test images (the test set
is measured once, at the end, on the model that did best on validation). Inputs are scaled to [0, 1] and
normalized with the training set's channel statistics; augmentation is applied to the training split only.

Input size. A model runs at its data set's image size whenever it can: every network of the zoo that ends
in a global (adaptive) pooling does, trained from scratch (ResNet-18 on CIFAR-10 runs at 32x32, not at
ImageNet's 224x224, which would cost 49 times the computation and memory). A model that needs larger
inputs (``ember.models.registry``: LeNet-5 takes 32x32, VGG at least 32x32, AlexNet 63x63) gets the
smallest size it takes: zero-padded when that is at most 8 pixels more (as LeCun et al. padded MNIST's
28x28 digits to 32x32), resized otherwise. The run's banner says so (``describe_input``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import ember
from ember.errors import EmberError
from ember.train.config import ConfigError, TrainConfig
from ember.train.datasets import DATASETS, DatasetInfo
from ember.train.registries import AUGMENTATIONS, OPTIMIZERS, SCHEDULES, Span


class DataUnavailable(EmberError, RuntimeError):
    """The data set's files are not on this machine; the message says how to get them."""


@dataclass
class RunData:
    """The three splits of a run, with the loaders' inputs and what the report needs."""

    train: Any
    train_eval: Any  # the training split without augmentation (to measure it)
    val: Any | None
    test: Any
    classes: list[str]
    info: DatasetInfo
    input_size: tuple[int, int, int]
    test_images: np.ndarray  # the test split's raw uint8 images (for the misclassified grid)


MAX_PADDING = 8  # pixels of zeros a model's larger input may get; beyond it, images are resized


# ----------------------------------------------------------------------------------------------------------
# Data
def model_input_size(config: TrainConfig, info: DatasetInfo) -> tuple[int, int, int]:
    """The (C, H, W) the model is given: the data's own size if the model runs at it, else the nearest
    size it takes."""
    from ember.models.registry import entry

    padding = int(config.model_options.get("padding") or 0)  # LeNet-5's padding=2 pads 28x28 to 32x32 itself
    side = entry(config.model).smallest_side(info.size + 2 * padding) - 2 * padding
    return (info.channels, side, side)


def describe_input(config: TrainConfig, info: DatasetInfo, input_size: tuple[int, ...]) -> str:
    """The banner's words for the input: 'input 1x28x28', and how the images were changed to fit."""
    shape = "x".join(map(str, input_size))
    side = input_size[1]
    if side == info.size:
        return f"input {shape}"
    how = "zero-padded" if 0 < side - info.size <= MAX_PADDING else "resized"
    from ember.models.registry import entry

    return (
        f"input {shape} (the data set's {info.size}x{info.size} images {how} to {side}x{side}: "
        f"{config.model} takes {entry(config.model).sides()})"
    )


def augmentations(names: list[str], info: DatasetInfo) -> tuple[list[Any], list[Any]]:
    """(transforms on uint8 images, transforms on normalized tensors) for the augmentation names."""
    before: list[Any] = []
    after: list[Any] = []
    for name in names:
        augmentation = AUGMENTATIONS[name]
        if augmentation.build is not None:
            (after if augmentation.on_tensor else before).append(augmentation.build(info))
    return before, after


def transforms_for(
    info: DatasetInfo, input_size: tuple[int, int, int], augment: list[str] | None = None
) -> Any:
    """The input pipeline: augmentation (training only), [0, 1] scaling, normalization, padding/resizing."""
    from ember.data import transforms as T

    before, after = augmentations(augment or [], info)
    extra = input_size[1] - info.size
    if 0 < extra <= MAX_PADDING:
        first, second = extra // 2, extra - extra // 2  # (left, top, right, bottom); odd: one more after
        before.append(T.Pad((first, first, second, second)))  # on the uint8 image: the background is 0
    elif extra > MAX_PADDING:
        before.append(T.Resize(input_size[1:]))
    steps: list[Any] = [*before, T.ToTensor(), T.Normalize(info.mean, info.std), *after]
    return T.Compose(steps)


def load_split(config: TrainConfig, train: bool, can_download: bool = False) -> Any:
    """The raw data set (train or test split), or ``DataUnavailable`` saying how to get it (``--download``
    only where the command takes it: ``can_download``)."""
    import ember.data

    info = DATASETS[config.dataset]
    cls = getattr(ember.data, info.class_name)
    try:
        return cls(root=config.data_root, train=train, download=config.download)
    except ember.data.DatasetNotFoundError as error:
        how = info.how_to_get
        if can_download and info.downloadable:
            how += ", or pass --download to fetch it"
        raise DataUnavailable(f"{config.dataset} not found: {error}\nTo get it: {how}") from None


def load_data(config: TrainConfig, can_download: bool = False) -> RunData:
    """Training, validation and test splits as datasets with their transforms (not loaders yet)."""
    from ember.data import ArrayDataset, Subset

    info = DATASETS[config.dataset]
    input_size = model_input_size(config, info)
    full = load_split(config, train=True, can_download=can_download)
    test = load_split(config, train=False, can_download=can_download)
    order = np.random.default_rng(config.seed).permutation(len(full))
    if config.subset is not None:
        order = order[: config.subset]
    held_out = round(config.val_size * len(order)) if config.val_size < 1 else int(config.val_size)
    if held_out >= len(order):
        raise ConfigError(
            [("val_size", f"{held_out} held-out images leave none of {len(order)} to train on")]
        )
    train_data = ArrayDataset(full.data, full.targets, transforms_for(info, input_size, config.augment))
    eval_transform = transforms_for(info, input_size)
    train_split = Subset(train_data, np.sort(order[held_out:]).tolist())
    val_split = None
    if held_out:
        val_split = Subset(
            ArrayDataset(full.data, full.targets, eval_transform), np.sort(order[:held_out]).tolist()
        )
    test_count = len(test) if config.test_subset is None else min(config.test_subset, len(test))
    test_data = ArrayDataset(test.data[:test_count], test.targets[:test_count], eval_transform)
    return RunData(
        train=train_split,
        train_eval=Subset(ArrayDataset(full.data, full.targets, eval_transform), train_split.indices),
        val=val_split,
        test=test_data,
        classes=list(full.classes),
        info=info,
        input_size=input_size,
        test_images=np.asarray(test.data[:test_count]),
    )


def loaders(config: TrainConfig, data: RunData) -> tuple[Any, Any, Any]:
    """Training loader (shuffled by its own generator, seeded by the run's seed), validation and test."""
    from ember.data import DataLoader

    train = DataLoader(
        data.train,
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=config.workers,
        generator=ember.Generator(config.seed),
    )
    eval_batch = eval_batch_size(config, data.input_size)
    val = DataLoader(data.val, batch_size=eval_batch) if data.val is not None else None
    test = DataLoader(data.test, batch_size=eval_batch)
    return train, val, test


def eval_batch_size(config: TrainConfig, input_size: tuple[int, ...]) -> int:
    """Validation and test batches: ``eval_images``, or the training batch if it is larger."""
    return max(config.batch_size, eval_images(input_size))


def eval_images(input_size: tuple[int, ...]) -> int:
    """500 images of 32x32 or less per evaluation batch (fewer Python steps), as many pixels in all for
    larger inputs (64x64: 125): no graph is kept, but a 224x224 batch of 500 would hold gigabytes."""
    return max(1, min(500, 500 * 32 * 32 // (input_size[-1] * input_size[-2])))


# ----------------------------------------------------------------------------------------------------------
# Model, loss, optimizer, schedule, penalty
def build_model(
    config: TrainConfig, num_classes: int, in_channels: int, image_size: int | None = None
) -> Any:
    """The zoo's model by name; a model that takes ``image_size`` (an MLP) is told the inputs' side."""
    from ember.models.registry import create, create_for_input

    options = dict(config.model_options)
    # GoogLeNet's auxiliary classifiers return a tuple in training, which the Trainer cannot score.
    if config.model == "googlenet" and options.setdefault("aux_logits", False):
        raise ConfigError(
            [
                (
                    "model_options.aux_logits",
                    "ember train trains GoogLeNet's main classifier only; the auxiliary classifiers "
                    "need a loop of your own with ember.models.AuxiliaryLoss",
                )
            ]
        )
    try:
        if image_size is None:
            return create(config.model, num_classes=num_classes, in_channels=in_channels, **options)
        size = (in_channels, image_size, image_size)
        return create_for_input(config.model, size, num_classes=num_classes, **options)
    except TypeError as error:
        raise ConfigError([("model_options", f"{config.model} does not accept them: {error}")]) from None


def build_loss(config: TrainConfig) -> Any:
    from ember.nn import CrossEntropyLoss

    return CrossEntropyLoss(label_smoothing=config.label_smoothing)


def build_optimizer(config: TrainConfig, model: Any) -> Any:
    settings = config.optimizer
    options: dict[str, Any] = {"lr": settings.lr, "weight_decay": settings.weight_decay}
    for key in ("momentum", "nesterov"):
        if getattr(settings, key) is not None:
            options[key] = getattr(settings, key)
    if settings.betas is not None:
        options["betas"] = tuple(settings.betas)
    options.update(settings.options)
    try:
        return OPTIMIZERS[settings.name].cls(model.parameters(), **options)
    except (TypeError, ValueError) as error:
        raise ConfigError([("optimizer", str(error))]) from None


def build_scheduler(config: TrainConfig, optimizer: Any, steps_per_epoch: int) -> Any:
    """The learning-rate schedule in the configured interval's units (steps or epochs), after a linear
    warm-up from lr/10 if the configuration asks for one (``ember.train.registries.SCHEDULES``)."""
    from ember.optim import lr_scheduler as S

    schedule = config.schedule
    entry = SCHEDULES[schedule.name]
    unit = steps_per_epoch if schedule.interval == "step" else 1
    span = Span(config.total_epochs * unit, schedule.warmup_epochs * unit, unit, config.optimizer.lr or 0.0)
    if span.warmup and not entry.takes_warmup:  # resolve_config refuses it; a config built by hand may not
        raise ConfigError([("schedule.warmup_epochs", f"the {schedule.name} schedule takes no warm-up")])
    try:
        main = entry.build(optimizer, span, dict(schedule.options))
    except TypeError as error:
        raise ConfigError([("schedule.options", f"the {schedule.name} schedule: {error}")]) from None
    if main is None or not span.warmup:
        return main
    ramp = S.LinearLR(optimizer, start_factor=0.1, end_factor=1.0, total_iters=span.warmup)
    return S.SequentialLR(optimizer, [ramp, main], milestones=[span.warmup])


def build_regularization(config: TrainConfig) -> Any:
    """The lecture's penalty lambda1 * sum|W| + lambda2 * sum W^2 over weights, or None if both are 0."""
    l1, l2 = config.regularization.l1, config.regularization.l2
    if not (l1 or l2):
        return None
    from ember.nn import regularization

    def penalty(model: Any) -> Any:
        return regularization.penalty(regularization.select_parameters(model), squares=l2, absolutes=l1)

    return penalty
