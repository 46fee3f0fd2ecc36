"""Checkpoints: a training run's whole state in one safetensors file, written so that a crash never loses one.

What a checkpoint holds is a nested structure of dicts, lists and numbers with arrays at the leaves: the
model's ``state_dict()``, the optimizer's and the scheduler's (PyTorch's formats), the epoch and step, and
every random number generator's state (Ember's default generator, the data loader's, NumPy's global one).
``save_checkpoint`` splits it in two (``ember.serialization.tree``): the arrays go into the safetensors
file as named tensors (``model/features.0.weight``, ``optimizer/state/0/momentum_buffer``), and the rest,
with a reference where each array was, goes as JSON into the file's header metadata. Loading reads JSON
and raw little-endian arrays only, so it never executes code from the file (unlike a pickle).

A save is atomic (``ember.atomic``: a temporary file beside the target, ``fsync``, ``os.replace``): a
process killed mid-write leaves the previous checkpoint intact (and a stray ``.NAME.tmp-PID`` file that
the next save ignores). ``load_checkpoint`` checks the file before trusting it, so a truncated or foreign
file is reported by name with what is wrong with it; ``load_weights`` also checks that a checkpoint's model
weights fit a model and are finite.
"""

from __future__ import annotations

import json
import os
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ember.atomic import atomic_write
from ember.errors import name_list
from ember.nn.module import Module, StateDictError
from ember.serialization.tree import SerializationError, decode, encode

FORMAT = "ember.checkpoint"
VERSION = 1
SUFFIX = ".safetensors"

CheckpointError = SerializationError  # a checkpoint could not be written or read; the message says why


def require_safetensors() -> None:
    """Fail now, not at the first save, if checkpoints cannot be written (``ember train`` checks first)."""
    _safetensors()


def _safetensors() -> Any:
    try:
        from safetensors import numpy as safetensors_numpy
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise CheckpointError(
            "checkpoints need the safetensors package: pip install 'ember[train]' (or safetensors alone)"
        ) from error
    return safetensors_numpy


# ----------------------------------------------------------------------------------------------------------
# Writing
def serialize(state: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> bytes:
    """The bytes of a checkpoint file holding ``state`` and ``metadata`` (see ``save_checkpoint``)."""
    arrays: dict[str, np.ndarray] = {}
    skeleton = encode(dict(state), [], arrays)
    header = {
        "format": FORMAT,
        "version": str(VERSION),
        "state": json.dumps(skeleton),
        "metadata": json.dumps(dict(metadata or {})),
    }
    return bytes(_safetensors().save(arrays, metadata=header))


def save_checkpoint(
    path: str | os.PathLike[str], state: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
) -> Path:
    """Save ``state`` (nested dicts/lists of tensors, arrays and plain values) to ``path`` atomically.

    ``metadata`` (JSON-able) is stored in the header beside the state, readable without loading the arrays
    (``read_metadata``): the run's configuration, the class names, the metrics so far.
    """
    return atomic_write(path, serialize(state, metadata))


# ----------------------------------------------------------------------------------------------------------
# Reading
def _read_header(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The safetensors header (tensor table and metadata) after checking the file holds what it announces."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise CheckpointError(
                f"{path}: truncated or not a checkpoint: {size} bytes, too short for a safetensors header"
            )
        (header_size,) = struct.unpack("<Q", prefix)
        if header_size > size - 8:
            raise CheckpointError(
                f"{path}: truncated or not a safetensors file: its first 8 bytes announce a "
                f"{header_size}-byte header but only {size - 8} bytes follow"
            )
        raw = handle.read(header_size)
    try:
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not a safetensors file (its header is not JSON: {error})") from None
    metadata = header.pop("__metadata__", None) or {}
    end = 0
    for name, entry in header.items():
        try:
            end = max(end, int(entry["data_offsets"][1]))
        except (KeyError, TypeError, IndexError, ValueError):
            raise CheckpointError(f"{path}: not a safetensors file (bad entry for '{name}')") from None
    available = size - 8 - header_size
    if end > available:
        raise CheckpointError(
            f"{path}: truncated: its tensors need {end} bytes of data but only {available} are present "
            "(was the write interrupted? the previous checkpoint, if any, is intact)"
        )
    if metadata.get("format") != FORMAT:
        names = ", ".join(list(header)[:5]) + (", ..." if len(header) > 5 else "")
        raise CheckpointError(
            f"{path}: a safetensors file but not an Ember checkpoint (no 'format: {FORMAT}' in its "
            f"metadata; it holds {len(header)} tensors: {names or 'none'})"
        )
    try:
        version = int(metadata.get("version", "0"))
    except (TypeError, ValueError):
        raise CheckpointError(
            f"{path}: damaged checkpoint header: version {metadata.get('version')!r} is not a number"
        ) from None
    if version > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this Ember reads ({VERSION})"
        )
    return header, metadata


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata saved with a checkpoint (the run's configuration and so on), without loading arrays."""
    path = Path(path)
    _, metadata = _read_header(path)
    try:
        found = json.loads(metadata.get("metadata", "{}"))
    except ValueError as error:
        raise CheckpointError(f"{path}: damaged checkpoint metadata ({error})") from None
    if not isinstance(found, dict):
        raise CheckpointError(
            f"{path}: damaged checkpoint metadata (a {type(found).__name__}, not a mapping)"
        )
    return found


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The state saved by ``save_checkpoint``: arrays come back as NumPy arrays, tensors as Ember tensors."""
    path = Path(path)
    _, metadata = _read_header(path)
    try:
        skeleton = json.loads(metadata["state"])
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{path}: damaged checkpoint state description ({error})") from None
    _safetensors()
    from safetensors import SafetensorError, safe_open

    arrays: dict[str, np.ndarray] = {}
    try:
        with safe_open(str(path), framework="np") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open is not a Mapping
                arrays[name] = handle.get_tensor(name)
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable checkpoint ({error})") from None
    try:
        state = decode(skeleton, arrays)
    except KeyError as error:
        raise CheckpointError(f"{path}: damaged checkpoint: the tensor {error} is missing") from None
    except (TypeError, ValueError, IndexError) as error:
        raise CheckpointError(f"{path}: damaged checkpoint state description ({error})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: damaged checkpoint: its state is not a mapping")
    return state


def load_weights(path: str | os.PathLike[str], model: Module, described: str = "the model") -> None:
    """Load a checkpoint's model weights into ``model`` for evaluation or prediction, or say what is wrong.

    Keys, shapes and types follow ``Module.load_state_dict`` (float64 is rounded with a warning, integers
    and booleans are refused); the message names the file and each problem. NaN or infinite weights can only
    make NaN predictions, so they are refused too, naming the tensors.
    """
    state = load_checkpoint(path)
    if not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{path}: holds no model weights (no 'model' entry)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_state_dict(state["model"])
        except StateDictError as error:
            raise CheckpointError(
                f"{path}: does not fit {described}: {'; '.join(error.problems)}. Was the file edited, or "
                "its weights taken from another model? Use a checkpoint as its run saved it"
            ) from None
    for warning in caught:
        warnings.warn(f"{path}: {warning.message}", warning.category, stacklevel=2)
    broken = [name for name, tensor in model.state_dict().items() if not np.isfinite(tensor.array).all()]
    if broken:
        raise CheckpointError(
            f"{path}: NaN or infinite values in {name_list(broken)}: training diverged before this save. "
            "Use an earlier checkpoint (a run's best.safetensors), or train again with a lower learning rate"
        )
