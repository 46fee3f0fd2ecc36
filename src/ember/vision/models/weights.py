"""torchvision's weights API on Ember's zoo: ``resnet18(weights=None)``, ``weights="DEFAULT"``,
``ResNet18_Weights.IMAGENET1K_V1``.

Ember downloads nothing: a weights enum names torchvision's file (``resnet18-f37072fd.pth``) and loads it
from the places a user keeps such files, in order: ``$EMBER_WEIGHTS``, ``~/.cache/ember/weights`` and
PyTorch's hub cache (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``), as the
``.pth`` torchvision publishes (read by ``ember.load``, which runs no code from it) or converted to
``.safetensors`` with the same stem (``ember.models.convert``). When the file is in none of them the error
says where to put it and where to get it.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.data.files import cache_dir
from ember.data.transforms import CenterCrop, Compose, Normalize, Resize, ToTensor
from ember.errors import EmberError
from ember.models.convert import load_safetensors
from ember.serialization import load

URL = "https://download.pytorch.org/models/"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class WeightsNotFoundError(EmberError, FileNotFoundError):
    """A weights file is in none of the places Ember looks; the message lists them and the file's source."""


@dataclass(frozen=True)
class Weights:
    """One set of published weights: torchvision's file name, its preprocessing and what it was trained on."""

    file: str
    crop_size: int = 224
    resize_size: int = 256
    meta: dict[str, Any] = field(default_factory=lambda: {"num_classes": 1000, "dataset": "ImageNet-1K"})

    def __hash__(self) -> int:
        return hash(self.file)


class WeightsEnum(enum.Enum):
    """torchvision's ``WeightsEnum``: members are ``Weights``; ``DEFAULT`` is the recommended one."""

    @classmethod
    def verify(cls, weights: Any) -> Any:
        """``None``, a member, or its name (``"DEFAULT"``, ``"ResNet18_Weights.IMAGENET1K_V1"``)."""
        if weights is None or isinstance(weights, cls):
            return weights
        if isinstance(weights, str):
            name = weights.removeprefix(cls.__name__ + ".")
            if name in cls.__members__:
                return cls.__members__[name]
        raise ValueError(
            f"{weights!r} are not weights of {cls.__name__}: use None (random weights) or one of "
            f"{', '.join(repr(name) for name in cls.__members__)}"
        )

    @property
    def url(self) -> str:
        return URL + self.value.file

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.value.meta)

    def transforms(self) -> Compose:
        """The preprocessing the weights expect: resize, centre crop, to a tensor, ImageNet normalization."""
        crop, resize = self.value.crop_size, self.value.resize_size
        return Compose([Resize(resize), CenterCrop(crop), ToTensor(), Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    def get_state_dict(self, progress: bool = True, check_hash: bool = False) -> dict[str, Any]:
        """The state dict, from the first place that holds the file (see the module docstring)."""
        stem = self.value.file.rsplit(".", 1)[0]
        places = weight_dirs()
        for place in places:
            if (place / f"{stem}.safetensors").is_file():
                return dict(load_safetensors(place / f"{stem}.safetensors"))
            if (place / self.value.file).is_file():
                state = load(place / self.value.file)
                return dict(state)
        raise WeightsNotFoundError(
            f"{type(self).__name__}.{self.name}: Ember does not download weights and found no "
            f"{self.value.file} (nor {stem}.safetensors) in {', '.join(str(p) for p in places)}. Download "
            f"{self.url} on a machine with internet access and put it in {places[0]}, or build the model "
            "with weights=None (random weights)"
        )


def weight_dirs() -> list[Path]:
    """Where weights files are looked for, in order."""
    places = [Path(os.environ["EMBER_WEIGHTS"]).expanduser()] if os.environ.get("EMBER_WEIGHTS") else []
    torch_home = Path(os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch").expanduser()
    return [*places, cache_dir() / "weights", torch_home / "hub" / "checkpoints"]


def weights_enum(name: str, **files: str) -> Any:
    """An enum class ``name`` with one member per file and ``DEFAULT`` naming the first (torchvision's)."""
    members = {member: Weights(file) for member, file in files.items()}
    members["DEFAULT"] = next(iter(members.values()))
    return WeightsEnum(name, members)  # type: ignore[call-arg]


def built(constructor: Any, weights_class: Any, weights: Any, kwargs: dict[str, Any]) -> Any:
    """``constructor(**kwargs)`` with ``weights`` loaded (None: random weights, as torchvision)."""
    chosen = weights_class.verify(weights)
    if chosen is not None:
        expected = chosen.meta["num_classes"]
        if kwargs.setdefault("num_classes", expected) != expected:
            raise ValueError(
                f"num_classes={kwargs['num_classes']} does not fit {chosen} ({expected} classes): build with "
                f"weights=None, or load the weights and replace the last layer"
            )
    model = constructor(**kwargs)
    if chosen is not None:
        model.load_state_dict(chosen.get_state_dict())
    return model
