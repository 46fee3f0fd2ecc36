"""Weights to and from PyTorch / torchvision, as safetensors files: no pickle on Ember's side.

A PyTorch checkpoint (``.pth``) is a pickle, and unpickling runs code; safetensors is a plain header of
names, dtypes and shapes followed by the raw arrays, read with NumPy alone. The zoo's models that
torchvision also has use torchvision's state-dict keys, so a file written from a torchvision model loads
into the Ember model of the same name, and one written from Ember loads into torchvision's:

    # PyTorch side (scripts/torch_to_safetensors.py does this for torchvision's models):
    safetensors.torch.save_file(tv_model.state_dict(), "resnet18.safetensors")
    # Ember side:
    model = ember.models.resnet18()
    ember.models.convert.load_safetensors_into(model, "resnet18.safetensors")
    ember.models.convert.save_safetensors(model, "back.safetensors")   # torch: load_file + load_state_dict

Needs the ``safetensors`` package (the ``io`` extra: ``pip install 'ember[io]'``), imported only when used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ember.atomic import atomic_write
from ember.autograd import Tensor
from ember.errors import DataFormatError, MissingFileError
from ember.nn.module import IncompatibleKeys, Module, StateDictError

PathLike = str | os.PathLike[str]

# torchvision's DenseNet checkpoints predate PyTorch 0.4 and name their layers "norm.1", "conv.2", ...
_LEGACY_DENSENET = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _safetensors_numpy() -> Any:
    try:
        from safetensors import numpy as safetensors_numpy
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading and writing safetensors files needs the 'safetensors' package: "
            "pip install 'ember[io]' (or pip install 'safetensors>=0.4')"
        ) from error
    return safetensors_numpy


def state_dict_arrays(source: Module | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A model's (or a state dict's) tensors as contiguous NumPy arrays, keyed by name."""
    state = source.state_dict() if isinstance(source, Module) else source
    arrays = {}
    for key, value in state.items():
        array = value.array if isinstance(value, Tensor) else np.asarray(value)
        arrays[key] = np.asarray(array, order="C")  # not ascontiguousarray: it makes 0-d arrays 1-d
    return arrays


def save_safetensors(source: Module | Mapping[str, Any], path: PathLike) -> None:
    """Write a model's state dict (or any name -> array mapping) to ``path`` as safetensors, atomically
    (a crash mid-write leaves any previous file at ``path`` intact)."""
    # "format": "pt" lets PyTorch-side loaders that check the metadata (e.g. Hugging Face's) accept the file.
    data = _safetensors_numpy().save(state_dict_arrays(source), metadata={"format": "pt"})
    atomic_write(path, bytes(data))


def load_safetensors(path: PathLike) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file, by name, with legacy torchvision key names updated."""
    reader = _safetensors_numpy()
    from safetensors import SafetensorError

    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: no such weights file")
    try:
        arrays = reader.load_file(os.fspath(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise DataFormatError(f"{path}: not a readable safetensors file ({error})") from None
    return rename_legacy_keys(arrays)


def load_safetensors_into(model: Module, path: PathLike, strict: bool = True) -> IncompatibleKeys:
    """Load a safetensors file into ``model`` (keys, shapes and types checked by ``load_state_dict``,
    values copied in place); an error names the file."""
    try:
        return model.load_state_dict(load_safetensors(path), strict=strict)
    except StateDictError as error:
        raise StateDictError(f"{type(model).__name__} from {path}", error.problems) from None


def rename_legacy_keys(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename old torchvision DenseNet keys: ``denselayer1.norm.1.weight`` -> ``denselayer1.norm1.weight``."""
    renamed = {}
    for key, value in arrays.items():
        match = _LEGACY_DENSENET.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed
