"""Tensor's conversions, as PyTorch spells them: ``x.to(device, dtype)``, ``x.float()``, ``x.cpu()``,
``x.device``, ``f"{loss:.3f}"``.

Ember computes on the CPU only (``ember.devices``): every conversion to the CPU returns the tensor itself
(as PyTorch does when nothing changes), and a conversion to another device raises PyTorch's error for a
build without it. ``to`` takes PyTorch's three forms: ``to(dtype)``, ``to(device, dtype)`` and
``to(other)`` (other's dtype and device), with ``copy=True`` for a new tensor even when nothing changes.
``to_arguments`` reads those forms for ``Module.to`` too.
"""

from __future__ import annotations

from builtins import bool as _bool
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from ember import devices, dtypes

TensorT = TypeVar("TensorT")


def to_arguments(where: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, _bool]:
    """(device, dtype, copy) from the arguments of ``Tensor.to`` / ``Module.to``, the device checked."""
    target_device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    copy = _bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"{where}() got unexpected keyword arguments: {', '.join(kwargs)}")
    rest = list(args)
    if (
        rest
        and hasattr(rest[0], "dtype")
        and hasattr(rest[0], "device")
        and not isinstance(rest[0], np.dtype)
    ):
        other = rest.pop(0)  # to(other): other's dtype and device
        target_device, dtype = other.device, other.dtype
    elif rest and (
        devices.is_device(rest[0]) or (isinstance(rest[0], int) and not isinstance(rest[0], bool))
    ):
        target_device = rest.pop(0)
        if rest and not isinstance(rest[0], bool):
            dtype = rest.pop(0)
    elif rest and not isinstance(rest[0], bool):
        dtype = rest.pop(0)
    if len(rest) > 2:
        raise TypeError(f"{where}(): too many arguments: {args!r}")
    if len(rest) == 2:
        copy = _bool(rest[1])
    devices.check(target_device, where)
    return target_device, None if dtype is None else dtypes.as_dtype(dtype), copy


class TensorConversions(Generic[TensorT]):
    """Type and device conversions of ``Tensor`` (inherited by it, beside its method table)."""

    __slots__ = ()

    if TYPE_CHECKING:  # what this uses of Tensor itself (ember.autograd.tensor)

        @property
        def array(self) -> np.ndarray: ...

        def clone(self) -> TensorT: ...

        def _convert(self, dtype: np.dtype[Any]) -> TensorT: ...

    def to(self, *args: Any, **kwargs: Any) -> TensorT:
        """This tensor with another dtype and/or on the CPU; itself when nothing changes (unless copy)."""
        _, dtype, copy = to_arguments("Tensor.to", args, kwargs)
        result = self if dtype is None or dtype == self.array.dtype else self._convert(dtype)
        return result.clone() if copy and result is self else result  # type: ignore[return-value]

    def type(self, dtype: Any = None) -> Any:
        """With no argument the type's name (``'ember.FloatTensor'``), else ``to(dtype)``."""
        if dtype is None:
            return f"ember.{_TYPE_NAMES.get(self.array.dtype.name, self.array.dtype.name)}"
        return self.to(dtype)

    def type_as(self, other: Any) -> TensorT:
        return self.to(other.dtype)

    def float(self) -> TensorT:
        return self.to(dtypes.float32)

    def double(self) -> TensorT:
        return self.to(dtypes.float64)

    def half(self) -> TensorT:
        return self.to(dtypes.float16)

    def long(self) -> TensorT:
        return self.to(dtypes.int64)

    def int(self) -> TensorT:
        return self.to(dtypes.int32)

    def short(self) -> TensorT:
        return self.to(dtypes.int16)

    def char(self) -> TensorT:
        return self.to(dtypes.int8)

    def byte(self) -> TensorT:
        return self.to(dtypes.uint8)

    def bool(self) -> TensorT:
        return self.to(dtypes.bool_)

    # ----------------------------------------------------------------------------------------------
    # Devices: the CPU only
    @property
    def device(self) -> devices.device:
        return devices.CPU

    @property
    def is_cuda(self) -> _bool:
        return False

    @property
    def is_cpu(self) -> _bool:
        return True

    def get_device(self) -> Any:
        """-1 for a CPU tensor, as PyTorch."""
        return -1

    def cpu(self, memory_format: Any = None) -> TensorT:
        return self  # type: ignore[return-value]

    def cuda(self, device: Any = None, non_blocking: _bool = False, memory_format: Any = None) -> TensorT:
        raise devices.unavailable(devices.device("cuda" if device is None else device), "Tensor.cuda")

    def contiguous(self, memory_format: Any = None) -> TensorT:
        return self  # type: ignore[return-value]

    def is_contiguous(self, memory_format: Any = None) -> _bool:
        """True: Ember's kernels take any NumPy layout, and ``contiguous()`` returns the tensor itself, so
        every tensor counts as contiguous (a strided view included; ``.array.flags`` has NumPy's answer)."""
        return True

    def pin_memory(self, device: Any = None) -> TensorT:
        return self  # type: ignore[return-value]

    def __format__(self, format_spec: str) -> str:
        """A 0-d tensor formats as its number (``f"{loss:.4f}"``); others only with an empty spec."""
        if self.array.ndim == 0:
            return self.array.item().__format__(format_spec)
        return object.__format__(self, format_spec)


_TYPE_NAMES = {
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "float16": "HalfTensor",
    "int64": "LongTensor",
    "int32": "IntTensor",
    "int16": "ShortTensor",
    "int8": "CharTensor",
    "uint8": "ByteTensor",
    "bool": "BoolTensor",
}
