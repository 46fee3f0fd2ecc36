"""The model registry: every architecture of the zoo under a short name, with a one-line description.

``ember.models.create("resnet20", num_classes=10, in_channels=3)`` builds a model by name (what
``ember train --model`` and ``ember summary`` use); ``ember.models.list()`` names them all. Each family
file registers its constructors with ``@register_model(description)``; the description says what the
model is and cites its paper.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ember.nn.module import Module


@dataclass(frozen=True)
class ModelEntry:
    """A registered constructor: its name, one-line description and default input size (C, H, W)."""

    name: str
    description: str
    input_size: tuple[int, int, int]
    constructor: Callable[..., Module]


_REGISTRY: dict[str, ModelEntry] = {}

Constructor = TypeVar("Constructor", bound=Callable[..., Module])
Model = TypeVar("Model", bound=Module)


def register_model(
    description: str, input_size: tuple[int, int, int] = (3, 224, 224), name: str | None = None
) -> Callable[[Constructor], Constructor]:
    """Register a constructor ``fn(num_classes=..., in_channels=..., **options)`` under its name."""

    def decorate(constructor: Constructor) -> Constructor:
        key = name or constructor.__name__
        if key in _REGISTRY:
            raise ValueError(f"register_model: a model named '{key}' is already registered")
        _REGISTRY[key] = ModelEntry(key, description, input_size, constructor)
        return constructor

    return decorate


def variant(
    name: str,
    description: str,
    factory: Callable[..., Model],
    input_size: tuple[int, int, int] = (3, 224, 224),
    num_classes: int = 1000,
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
    return register_model(description, input_size, name)(build)


def entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; an unknown name is reported with the closest known ones."""
    _load_families()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(f"unknown model '{name}'{hint}; ember.models.list() names them all")
    return _REGISTRY[name]


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


def list_models() -> dict[str, str]:
    """Every registered model name (sorted) with its one-line description."""
    _load_families()
    return {name: _REGISTRY[name].description for name in sorted(_REGISTRY)}


def _load_families() -> None:
    import ember.models  # noqa: F401  (importing the package registers every family)
