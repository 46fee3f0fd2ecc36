"""Reading pickles without running them: PyTorch's ``torch.save`` files of tensors and plain containers.

Unpickling calls whatever global a file names (``os.system`` as easily as ``OrderedDict``), so a pickle
from elsewhere can run any code. ``ember.load(weights_only=True)``, like PyTorch's since 2.6, reads a
pickle with an unpickler that serves a fixed set of globals and refuses every other one before anything
runs: ``collections.OrderedDict``, PyTorch's tensor rebuilders (``torch._utils._rebuild_tensor_v2``,
``_rebuild_parameter``) and its storage types (``torch.FloatStorage``, ...). The rebuilders here are
Ember's own: they take the storage's raw bytes from the zip archive ``torch.save`` writes (``NAME/data/KEY``),
view them with a plain NumPy dtype (``np.frombuffer``: no objects, no pointers), and return Ember tensors.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy
from ember.serialization.tree import SerializationError


class UnsafeFileError(SerializationError, pickle.UnpicklingError):
    """A pickle names something that could run code; nothing was run."""


# PyTorch's storage types, as the NumPy types of their elements (bfloat16 and complex halves have none).
STORAGES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_, "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
}  # fmt: skip


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name, self.dtype = name, np.dtype(STORAGES[name])


def _rebuild_tensor(
    storage: Any, offset: int, size: Any, stride: Any, requires_grad: Any = False, *_: Any
) -> Tensor:
    """``torch._utils._rebuild_tensor_v2``: ``storage`` (a 1-D array) viewed with ``size`` and ``stride``."""
    if not isinstance(storage, np.ndarray):
        raise UnsafeFileError(f"a tensor's storage is a {type(storage).__name__}, not raw data")
    size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
    if any(n < 0 for n in (*size, *stride)) or int(offset) < 0:
        raise SerializationError(f"a tensor with a negative size or stride: {size}, {stride}")
    last = int(offset) + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) if all(size) else 0
    if last >= max(storage.size, 1) and all(size):
        raise SerializationError(
            f"a tensor of size {size} reaches past its storage of {storage.size} elements"
        )
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[int(offset) :], shape=size, strides=tuple(s * itemsize for s in stride), writeable=False
    )
    tensor = from_numpy(np.array(view))  # a copy: tensors own their memory
    if requires_grad and tensor.dtype.kind in "fc":
        tensor.requires_grad_(True)
    return tensor


def _rebuild_parameter(data: Tensor, requires_grad: Any = True, *_: Any) -> Tensor:
    """``torch._utils._rebuild_parameter``: the tensor itself (Ember's Parameter lives in ``ember.nn``)."""
    if requires_grad and data.dtype.kind in "fc":
        data.requires_grad_(True)
    return data


SERVED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile | None, prefix: str, where: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.where = archive, prefix, where
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SERVED:
            return SERVED[(module, name)]
        if module == "torch" and name in STORAGES:
            return _StorageType(name)
        raise UnsafeFileError(
            f"{self.where}: refusing to load: the file's pickle asks for '{module}.{name}', which could run "
            "code (ember.load reads tensors, state dicts and plain containers only, as "
            "torch.load(weights_only=True)). If you trust the file's source, pass weights_only=False; "
            "better, save the state_dict instead of the object"
        )

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage") or self.archive is None:
            raise UnsafeFileError(f"{self.where}: refusing an unknown persistent reference {str(pid)[:60]}")
        kind, key = pid[1], str(pid[2])
        if not isinstance(kind, _StorageType):
            raise UnsafeFileError(f"{self.where}: a storage of unknown type {kind!r}")
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise SerializationError(f"{self.where}: damaged: storage {key} is missing") from None
            usable = len(raw) - len(raw) % kind.dtype.itemsize
            self.storages[key] = np.frombuffer(raw[:usable], dtype=kind.dtype.newbyteorder("<"))
        return self.storages[key]


def load_torch_zip(archive: zipfile.ZipFile, where: str) -> Any:
    """The object in a ``torch.save`` zip archive, if it is tensors and plain containers (else refused)."""
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise SerializationError(f"{where}: a zip file but neither Ember's format nor torch.save's")
    prefix = pickles[0][: -len("data.pkl")]
    order = (
        archive.read(prefix + "byteorder").decode().strip()
        if prefix + "byteorder" in archive.namelist()
        else "little"
    )
    if order != "little":
        raise SerializationError(
            f"{where}: saved on a {order}-endian machine; Ember reads little-endian files"
        )
    return _Unpickler(archive.read(pickles[0]), archive, prefix, where).load()


def load_plain_pickle(data: bytes, where: str) -> Any:
    """A bare pickle (no archive) of plain containers; anything else is refused before it runs."""
    return _Unpickler(data, None, "", where).load()
