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
from pathlib import Path
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


EVAL_IMAGES = 256  # images of 32x32 or less per evaluation batch (eval_images)
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
    if info.source:
        return load_scenes(config, info, can_download)
    input_size = model_input_size(config, info)
    full = load_split(config, train=True, can_download=can_download)
    test = load_split(config, train=False, can_download=can_download)
    order = np.random.default_rng(config.seed).permutation(len(full))
    if config.subset is not None:
        order = order[: config.subset]
    held_out = held_out_count(config, len(order))
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


def held_out_count(config: TrainConfig, count: int) -> int:
    """How many of ``count`` training images the validation split holds (``ConfigError`` if all)."""
    size = float(config.val_size if config.val_size is not None else DATASETS[config.dataset].val_size)
    held_out = round(size * count) if size < 1 else int(size)
    if held_out >= count:
        raise ConfigError([("val_size", f"{held_out} held-out images leave none of {count} to train on")])
    return held_out


def load_scenes(config: TrainConfig, info: DatasetInfo, can_download: bool = False) -> RunData:
    """The scenes of ``--task segment`` or ``localize`` (``ember.vision.datasets.Scenes``): ``subset`` (or
    5,000) training scenes, the validation split drawn from them, ``test_subset`` (or 1,000) test scenes.
    Segmentation's classes are the background and then the digits (the semantic map's 0, 1 + class)."""
    from ember.data import Subset
    from ember.train.tasks import TASKS

    target_type = TASKS[config.task].target_type
    full = make_scenes(config, True, config.subset or info.train_images, can_download)
    test = make_scenes(config, False, config.test_subset or info.test_images, can_download)
    order = np.random.default_rng(config.seed).permutation(len(full))
    held_out = held_out_count(config, len(order))
    train = Subset(full, np.sort(order[held_out:]).tolist())
    val = Subset(full, np.sort(order[:held_out]).tolist()) if held_out else None
    # Segmentation's map and detection's labels count the background as 0 and each digit as 1 + class.
    classes = (["background"] if target_type in ("semantic", "detection") else []) + list(full.classes)
    return RunData(train, train, val, test, classes, info, (1, info.size, info.size), test.images)


def make_scenes(config: TrainConfig, train: bool, size: int, can_download: bool = False) -> Any:
    """The first ``size`` training or test scenes of the run's scenes data set and task (the scenes are
    drawn one by one from fixed seeds: the first ``size`` are the same whatever the total)."""
    import ember.data
    from ember.train.tasks import TASKS
    from ember.vision.datasets import Scenes

    info, target_type = DATASETS[config.dataset], TASKS[config.task].target_type
    try:
        return Scenes(config.data_root, train, info.source, size, target_type, download=config.download)
    except ember.data.DatasetNotFoundError as error:
        how = info.how_to_get + (", or pass --download to fetch it" if can_download else "")
        raise DataUnavailable(f"{config.dataset} not found: {error}\nTo get it: {how}") from None


def loaders(config: TrainConfig, data: RunData) -> tuple[Any, Any, Any]:
    """Training loader (shuffled by its own generator, seeded by the run's seed), validation and test."""
    from ember.data import DataLoader
    from ember.train.tasks import TASKS

    collate = TASKS[config.task].collate_fn()
    train = DataLoader(
        data.train,
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=config.workers,
        collate_fn=collate,
        generator=ember.Generator(config.seed),
    )
    eval_batch = eval_batch_size(config, data.input_size)
    val = DataLoader(data.val, batch_size=eval_batch, collate_fn=collate) if data.val is not None else None
    test = DataLoader(data.test, batch_size=eval_batch, collate_fn=collate)
    return train, val, test


def eval_batch_size(config: TrainConfig, input_size: tuple[int, ...]) -> int:
    """Validation and test batches: ``eval_images``, or the training batch if it is larger."""
    return max(config.batch_size, eval_images(input_size))


def eval_images(input_size: tuple[int, ...]) -> int:
    """256 images of 32x32 or less per evaluation batch, as many pixels in all for larger inputs (64x64:
    64): no graph is kept, but a 224x224 batch of 256 would hold gigabytes. Fewer Python steps do not pay
    beyond that: the default small CNN on 28x28 images evaluated 1.5-1.7x faster per image in batches of
    128-256 than of 500 or 1000, in Ember and in PyTorch alike (one thread; a batch's activations stay in
    the cache), docs/performance.md."""
    return max(1, min(EVAL_IMAGES, EVAL_IMAGES * 32 * 32 // (input_size[-1] * input_size[-2])))


# ----------------------------------------------------------------------------------------------------------
# Model, loss, optimizer, schedule, penalty
def build_model(
    config: TrainConfig, num_classes: int, in_channels: int, image_size: int | None = None
) -> Any:
    """The zoo's model by name; a model that takes ``image_size`` (an MLP) is told the inputs' side."""
    from ember.models.registry import create, create_for_input
    from ember.train.tasks import register_vision_models

    register_vision_models(config.model)
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


def load_pretrained(config: TrainConfig, model: Any) -> str:
    """Load ``finetune.init_from`` into ``model`` but for its head (new classes: freshly initialized).

    The file is an Ember checkpoint or run directory, or a safetensors file of weights (a torchvision
    model converted by ``scripts/torch_to_safetensors.py``). Returns a line describing what was loaded.
    """
    from pathlib import Path

    from ember.models.convert import load_safetensors
    from ember.train.callbacks.checkpoint import checkpoint_path
    from ember.train.checkpoint import CheckpointError, load_checkpoint
    from ember.train.transfer import head_name

    path = checkpoint_path(str(config.finetune.init_from))
    try:
        state = load_checkpoint(path)["model"]
        arrays = {key: value.array if hasattr(value, "array") else value for key, value in state.items()}
    except (CheckpointError, KeyError):  # not an Ember checkpoint: plain weights
        if not Path(path).is_file():
            raise
        arrays = load_safetensors(path)
    head = head_name(model)
    own = model.state_dict()
    kept = {k: v for k, v in arrays.items() if not (k == head or k.startswith(head + "."))}
    missing = sorted(k for k in own if k not in kept and not k.startswith(head + "."))
    unexpected = sorted(k for k in kept if k not in own)
    wrong = sorted(k for k in kept if k in own and tuple(own[k].shape) != tuple(kept[k].shape))
    if missing or unexpected or wrong:
        problems = [f"{label}: {', '.join(names[:4])}{', ...' if len(names) > 4 else ''}"
                    for label, names in (("missing", missing), ("unexpected", unexpected),
                                         ("other shapes", wrong)) if names]  # fmt: skip
        raise CheckpointError(
            f"{path}: its weights do not fit {config.model} ({'; '.join(problems)}): fine-tune the model "
            "the checkpoint was trained as (--model, --set model_options...)"
        )
    model.load_state_dict({**{k: v for k, v in own.items() if k.startswith(head + ".")}, **kept})
    return f"fine-tuning from {path}: {len(kept)} tensors loaded, a new {head}"


def build_loss(config: TrainConfig) -> Any:
    """The task's loss (``ember.train.tasks``): cross-entropy with the label smoothing, for classification."""
    from ember.train.tasks import TASKS

    return TASKS[config.task].build_loss(config.label_smoothing)


def build_optimizer(config: TrainConfig, model: Any) -> Any:
    settings = config.optimizer
    options: dict[str, Any] = {"lr": settings.lr, "weight_decay": settings.weight_decay}
    for key in ("momentum", "nesterov"):
        if getattr(settings, key) is not None:
            options[key] = getattr(settings, key)
    if settings.betas is not None:
        options["betas"] = tuple(settings.betas)
    options.update(settings.options)
    cls = OPTIMIZERS[settings.name].cls
    params = model.parameters()
    if config.finetune.init_from:  # freeze by strategy; the head at lr, the pretrained layers lower
        from ember.train import transfer

        tune = config.finetune
        params = transfer.prepare_finetuning(
            model, tune.strategy, float(settings.lr or 0.0), tune.backbone_lr, None, tune.layers,
            tune.freeze_batchnorm,
        )  # fmt: skip
    try:
        return cls(params, **options)
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


def load_trained(path: str | Path) -> tuple[TrainConfig, Any, dict[str, Any], Path]:
    """(config, model with the checkpoint's weights in eval mode, checkpoint metadata, checkpoint path).

    The weights are checked as ``load_weights`` does (they fit the model, and are finite).
    """
    from ember.train.callbacks.checkpoint import checkpoint_path
    from ember.train.checkpoint import CheckpointError, load_weights, read_metadata
    from ember.train.config import resolve_config

    path = checkpoint_path(path)
    metadata = read_metadata(path)
    if not {"config", "classes", "input_size"} <= metadata.keys():
        raise CheckpointError(f"{path}: a checkpoint without its run's configuration (saved by hand?)")
    config = resolve_config(metadata["config"], f"{path} (metadata)")
    channels, side = int(metadata["input_size"][0]), int(metadata["input_size"][1])
    model = build_model(config, len(metadata["classes"]), channels, side)
    load_weights(path, model, f"the {config.model} model its configuration describes")
    model.eval()
    return config, model, metadata, path
