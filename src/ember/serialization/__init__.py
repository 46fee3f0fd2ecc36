"""``ember.save`` and ``ember.load``: PyTorch's contract as of 2.6, without running code from a file.

``save(obj, f)`` writes tensors, state dicts, optimizer states and nested containers of plain values in
Ember's safe format: a zip archive holding ``ember.json`` (the tree, ``ember.serialization.tree``) and one
``.npy`` file per array. Anything else (a whole module, an object of your own class) can only be pickled,
and is, as ``torch.save`` does.

``load(f)`` reads, with ``weights_only=True`` (the default, as PyTorch's since 2.6):

- Ember's format: JSON and raw arrays (``np.load(allow_pickle=False)``), nothing is called;
- a ``torch.save`` file of tensors and plain containers, through a restricted unpickler
  (``ember.serialization.pickled``) that refuses any other global before it runs;
- a pickle of anything else is refused with ``UnsafeFileError`` (a ``pickle.UnpicklingError``), naming what
  it asked for. ``weights_only=False`` unpickles it with Python's pickle, which can run code: only for
  files you trust (``weights_only=False`` is how an object ``save`` pickled, e.g. a whole module, comes back).

``f`` is a path or a binary file object; a path is written atomically (``ember.atomic``).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from ember import devices
from ember.atomic import atomic_write
from ember.errors import MissingFileError
from ember.serialization.pickled import UnsafeFileError, load_plain_pickle, load_torch_zip
from ember.serialization.tree import SerializationError, decode, encode

FORMAT, VERSION, INDEX = "ember.save", 1, "ember.json"
PICKLE_PROTOCOL = 2  # PyTorch's default

__all__ = ["SerializationError", "UnsafeFileError", "load", "save"]

FileLike = str | os.PathLike[str] | IO[bytes]


def save(obj: Any, f: FileLike, pickle_protocol: int = PICKLE_PROTOCOL) -> None:
    """Save ``obj`` to ``f``: in the safe format if it is tensors and plain containers, else as a pickle."""
    try:
        data = _archive(obj)
    except SerializationError:
        data = pickle.dumps(obj, protocol=pickle_protocol)  # a whole module: loadable with weights_only=False
    if isinstance(f, str | os.PathLike):
        atomic_write(f, data)
    else:
        f.write(data)


def _archive(obj: Any) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    tree = encode(obj, [], arrays)
    names = list(arrays)
    index = {"format": FORMAT, "version": VERSION, "arrays": names, "tree": tree}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(INDEX, json.dumps(index))
        for number, name in enumerate(names):
            with archive.open(f"arrays/{number}.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, arrays[name], allow_pickle=False)
    return buffer.getvalue()


def load(
    f: FileLike,
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool = True,
    mmap: Any = None,
) -> Any:
    """What ``save`` (or ``torch.save``, for tensors and containers) wrote to ``f``; see the module docstring.

    ``map_location`` may name the CPU (or be a dict or function, as scripts pass for GPU checkpoints: every
    tensor is loaded on the CPU anyway).
    """
    if isinstance(map_location, str | devices.device):
        devices.check(map_location, "ember.load(map_location=...)")
    where, data = _read(f)
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if INDEX in archive.namelist():
                return _from_archive(archive, where)
            try:
                return load_torch_zip(archive, where)
            except UnsafeFileError:
                if weights_only:
                    raise
                raise SerializationError(
                    f"{where}: a torch.save archive of objects other than tensors, which Ember cannot "
                    "rebuild; save the state_dict instead (torch.save(model.state_dict(), path)) and load it"
                ) from None
    try:
        return load_plain_pickle(data, where) if weights_only else pickle.loads(data)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        if isinstance(error, SerializationError):
            raise
        raise SerializationError(f"{where}: not a file ember.save or torch.save wrote ({error})") from None


def _read(f: FileLike) -> tuple[str, bytes]:
    if not isinstance(f, str | os.PathLike):
        return getattr(f, "name", "the file object"), f.read()
    path = Path(f)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "no such file"
        raise MissingFileError(f"ember.load: {path}: {what}")
    return str(path), path.read_bytes()


def _from_archive(archive: zipfile.ZipFile, where: str) -> Any:
    try:
        index = json.loads(archive.read(INDEX))
        if index.get("format") != FORMAT or int(index.get("version", 0)) > VERSION:
            raise SerializationError(
                f"{where}: format {index.get('format')!r} version {index.get('version')!r}: this Ember reads "
                f"{FORMAT!r} up to version {VERSION}"
            )
        arrays = {}
        for number, name in enumerate(index["arrays"]):
            with archive.open(f"arrays/{number}.npy") as handle:
                arrays[name] = np.lib.format.read_array(handle, allow_pickle=False)
        return decode(index["tree"], arrays)
    except SerializationError:
        raise
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile, AttributeError) as error:
        raise SerializationError(f"{where}: damaged Ember file ({type(error).__name__}: {error})") from None
