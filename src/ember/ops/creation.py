"""Creating tensors: from data, filled with constants, ranges, and random draws from Ember's generator.

Every factory takes PyTorch's ``dtype=`` and ``device=`` keywords; the device is the CPU (``ember.devices``:
another one raises PyTorch's error for a build without it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember import devices, dtypes
from ember.autograd import Tensor, from_numpy
from ember.random import Generator, numpy_generator


def _size(size: tuple[Any, ...]) -> tuple[int, ...]:
    """``zeros(2, 3)`` and ``zeros((2, 3))`` mean the same."""
    if len(size) == 1 and isinstance(size[0], Sequence | np.ndarray):
        size = tuple(size[0])
    shape = tuple(int(s) for s in size)
    if any(s < 0 for s in shape):
        raise ValueError(f"tensor sizes must be non-negative, got {shape}")
    return shape


def _made(array: np.ndarray, requires_grad: bool) -> Tensor:
    tensor = from_numpy(array)
    if requires_grad:
        tensor.requires_grad = True
    return tensor


def _like(x: Tensor, dtype: Any) -> Any:
    """The dtype of a ``*_like`` result: ``dtype`` if given, else ``x``'s."""
    return x.dtype if dtype is None else dtypes.as_dtype(dtype)


def tensor(
    data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, pin_memory: bool = False
) -> Tensor:
    """A new tensor holding a copy of ``data`` (Python floats become float32, ints int64)."""
    devices.check(device, "tensor")
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but shares the memory of a NumPy array (or Tensor) when no conversion is needed."""
    devices.check(device, "as_tensor")
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtypes.as_dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtypes.as_dtype(dtype)):
        return from_numpy(data)
    return Tensor(data, dtype=dtype)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    devices.check(device, "zeros")
    return _made(np.zeros(_size(size), dtype=dtypes.as_dtype(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    devices.check(device, "ones")
    return _made(np.ones(_size(size), dtype=dtypes.as_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    devices.check(device, "empty")
    return _made(np.empty(_size(size), dtype=dtypes.as_dtype(dtype)), requires_grad)


def full(
    size: Sequence[int], fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    devices.check(device, "full")
    if dtype is None:
        dtype = dtypes.as_dtype(type(fill_value)) if isinstance(fill_value, bool | int | float) else None
    return _made(np.full(_size((size,)), fill_value, dtype=dtypes.as_dtype(dtype)), requires_grad)


def zeros_like(x: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    devices.check(device, "zeros_like")
    return _made(np.zeros(x.shape, dtype=_like(x, dtype)), requires_grad)


def ones_like(x: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    devices.check(device, "ones_like")
    return _made(np.ones(x.shape, dtype=_like(x, dtype)), requires_grad)


def empty_like(x: Tensor, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    devices.check(device, "empty_like")
    return _made(np.empty(x.shape, dtype=_like(x, dtype)), requires_grad)


def full_like(
    x: Tensor, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    devices.check(device, "full_like")
    return _made(np.full(x.shape, fill_value, dtype=_like(x, dtype)), requires_grad)


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from ``start`` up to (not including) ``end``; ints give int64, any float the default float."""
    devices.check(device, "arange")
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_integral = all(isinstance(v, int | np.integer) for v in (start, end, step))
        dtype = dtypes.int64 if is_integral else dtypes.get_default_dtype()
    return _made(np.arange(start, end, step, dtype=dtypes.as_dtype(dtype)), requires_grad)


def linspace(
    start: float, end: float, steps: int, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    devices.check(device, "linspace")
    return _made(np.linspace(start, end, steps, dtype=dtypes.as_dtype(dtype)), requires_grad)


def eye(
    n: int, m: int | None = None, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    devices.check(device, "eye")
    return _made(np.eye(n, m, dtype=dtypes.as_dtype(dtype)), requires_grad)


def rand(
    *size: Any,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform on [0, 1)."""
    devices.check(device, "rand")
    dtype = dtypes.as_dtype(dtype)
    return _made(numpy_generator(generator).random(_size(size), dtype=dtype), requires_grad)


def randn(
    *size: Any,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Standard normal N(0, 1)."""
    devices.check(device, "randn")
    dtype = dtypes.as_dtype(dtype)
    return _made(numpy_generator(generator).standard_normal(_size(size), dtype=dtype), requires_grad)


def randint(
    low: int,
    high: int | None = None,
    size: Sequence[int] = (),
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Integers uniform on [low, high); ``randint(high, size)`` and ``randint(low, high, size)`` both work."""
    devices.check(device, "randint")
    if high is None or (not isinstance(high, int | np.integer) and isinstance(high, Sequence)):
        size, high, low = (high if high is not None else size), low, 0
    dtype = dtypes.as_dtype(dtype or dtypes.int64)
    values = numpy_generator(generator).integers(low, high, size=_size((size,)), dtype=np.int64)
    return _made(values.astype(dtype, copy=False), requires_grad)


def rand_like(
    x: Tensor,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    devices.check(device, "rand_like")
    return rand(x.shape, generator=generator, dtype=_like(x, dtype), requires_grad=requires_grad)


def randn_like(
    x: Tensor,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    devices.check(device, "randn_like")
    return randn(x.shape, generator=generator, dtype=_like(x, dtype), requires_grad=requires_grad)


def randint_like(
    x: Tensor,
    low: int,
    high: int | None = None,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
) -> Tensor:
    devices.check(device, "randint_like")
    return randint(low, high, x.shape, generator=generator, dtype=_like(x, dtype))


def bernoulli(probabilities: Tensor, generator: Generator | None = None) -> Tensor:
    """1 where a uniform draw falls below each element's probability, else 0, in the input's type."""
    draws = numpy_generator(generator).random(probabilities.shape)
    return from_numpy((draws < probabilities.array).astype(probabilities.dtype))


def randperm(
    n: int,
    generator: Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    devices.check(device, "randperm")
    values = numpy_generator(generator).permutation(n).astype(dtypes.as_dtype(dtype or dtypes.int64))
    return _made(values, requires_grad)
