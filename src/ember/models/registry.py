"""The model registry: every architecture of the zoo under a short name, with a one-line description.

``ember.models.create("resnet20", num_classes=10, in_channels=3)`` builds a model by name (what
``ember train --model`` and ``ember summary`` use); ``ember.models.list()`` names them all. Each family
file registers its constructors with ``@register_model(description)``; the description says what the
model is and cites its paper.

Each entry also says which inputs the model takes: its native size (the paper's, ``input_size``) and the
range of sides it runs at (``min_size`` to ``max_size``). Most networks end in an adaptive (global)
pooling and so run at any side above the point where their poolings and strides would leave nothing
(VGG: five 2x2 poolings, 32 pixels; torchvision's VGG behaves the same); LeNet-5's fully connected C5 fixes
its input at 32x32. ``ember train`` runs a model at its data
set's size when the model can take it (``ModelEntry.smallest_side``).

The table is full whenever it is read: importing this module runs ``ember/models/__init__.py`` first,
which imports every family file, and each registers its models as it is imported.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ember.errors import EmberError
from ember.nn.module import Module
from ember.registry import Registry, UnknownNameError


class UnknownModelError(UnknownNameError):
    """A model name the registry does not know; the message names the closest ones."""


class InputSizeError(EmberError, ValueError):
    """An input size a model cannot take (not C x H x W, or sides outside the model's range)."""

    exit_status = 2  # for the ember command: a bad argument


@dataclass(frozen=True)
class ModelEntry:
    """A registered constructor: its name, one-line description, native input size (C, H, W) and the
    range of sides (height and width) it runs at: ``min_size`` to ``max_size`` (None: no upper limit)."""

    name: str
    description: str
    input_size: tuple[int, int, int]
    constructor: Callable[..., Module]
    min_size: int = 1
    max_size: int | None = None

    @property
    def built_for_size(self) -> bool:
        """Whether the model is built for one image side (``image_size``, as the MLP): its weights grow."""
        return "image_size" in inspect.signature(self.constructor).parameters

    def sides(self) -> str:
        """The sides it takes, in words: 'inputs of at least 32x32', or '32x32 inputs' for a fixed size."""
        if self.max_size == self.min_size:
            return f"{self.min_size}x{self.min_size} inputs"
        return f"inputs of at least {self.min_size}x{self.min_size}"

    def smallest_side(self, side: int) -> int:
        """The side nearest to ``side`` that the model runs at (``side`` itself if it can)."""
        side = max(side, self.min_size)
        return side if self.max_size is None else min(side, self.max_size)

    def check_input(self, input_size: tuple[int, ...]) -> None:
        """Raise ``InputSizeError`` unless ``input_size`` is (C, H, W) with sides this model runs at."""
        native = "x".join(map(str, self.input_size))
        given = "x".join(map(str, input_size))
        if len(input_size) != 3 or min(input_size) < 1:
            raise InputSizeError(
                f"an input size is C x H x W, three positive sizes such as {native} (channels, height, "
                f"width); got {given}"
            )
        fits = [self.smallest_side(side) == side for side in input_size[1:]]
        if not all(fits):
            channels = input_size[0]
            side = self.smallest_side(max(input_size[1:]))
            fit = f"{channels}x{side}x{side}"
            raise InputSizeError(
                f"{self.name} takes {self.sides()}, not {given}; use {fit}"
                + ("" if fit == native else f" (its native size is {native})")
            )


MODELS: Registry[ModelEntry] = Registry(
    "model", "ember.models.list() (or 'ember summary --list') names them all"
)

Constructor = TypeVar("Constructor", bound=Callable[..., Module])
Model = TypeVar("Model", bound=Module)


def register_model(
    description: str,
    input_size: tuple[int, int, int] = (3, 224, 224),
    name: str | None = None,
    min_size: int = 1,
    max_size: int | None = None,
) -> Callable[[Constructor], Constructor]:
    """Register a constructor ``fn(num_classes=..., in_channels=..., **options)`` under its name.

    ``min_size``/``max_size``: the sides it runs at (measured: ``tests/models/test_registry.py``).
    """

    def decorate(constructor: Constructor) -> Constructor:
        key = name or constructor.__name__
        MODELS.register(key, ModelEntry(key, description, input_size, constructor, min_size, max_size))
        return constructor

    return decorate


def variant(
    name: str,
    description: str,
    factory: Callable[..., Model],
    input_size: tuple[int, int, int] = (3, 224, 224),
    num_classes: int = 1000,
    min_size: int = 1,
    **fixed: Any,
) -> Callable[..., Model]:
    """Register ``name`` as ``factory(num_classes=..., in_channels=..., **fixed, **options)``.

    One line per member of a family: ``resnet18 = variant("resnet18", "...", ResNet, block=BasicBlock,
    layers=[2, 2, 2, 2])``. ``num_classes`` is the default number of classes (10 for the CIFAR nets).
    """

    def build(num_classes: int = num_classes, in_channels: int = 3, **options: Any) -> Model:
        return factory(num_classes=num_classes, in_channels=in_channels, **fixed, **options)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{description}."
    return register_model(description, input_size, name, min_size)(build)


def entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; an unknown name is reported with the closest known ones."""
    if name not in MODELS:
        raise UnknownModelError(MODELS.unknown(name))
    return MODELS[name]


def create(
    name: str, num_classes: int | None = None, in_channels: int | None = None, **options: Any
) -> Module:
    """A freshly initialized model by name, e.g. ``create("resnet20", num_classes=10)``.

    ``num_classes`` and ``in_channels`` default to the model's own (1000 and 3 for the ImageNet networks,
    10 for the CIFAR ones, 1 input channel for LeNet-5); other options go to the constructor.
    """
    if num_classes is not None:
        options["num_classes"] = num_classes
    if in_channels is not None:
        options["in_channels"] = in_channels
    return entry(name).constructor(**options)


def create_for_input(
    name: str, input_size: tuple[int, ...], num_classes: int | None = None, **options: Any
) -> Module:
    """``create`` for inputs of ``input_size`` (C, H, W): ``in_channels`` is C, and a model built for one
    image side (the MLP, whose first layer takes C x H x W values) is given ``image_size``."""
    if entry(name).built_for_size:
        options.setdefault("image_size", input_size[-1])
    return create(name, num_classes, input_size[0], **options)


def list_models() -> dict[str, str]:
    """Every registered model name (sorted) with its one-line description."""
    return {name: MODELS[name].description for name in sorted(MODELS)}
