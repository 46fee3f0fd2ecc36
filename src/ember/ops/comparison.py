"""Comparisons and logic: ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge`` (and PyTorch's long names),
``isclose``, ``isnan``, ``isinf``, ``isfinite``, ``logical_and``/``or``/``xor``/``not``.

They carry no gradient (a step function's derivative is zero almost everywhere) and give boolean tensors.
Operands meet in PyTorch's common type first (``operands``), so an int tensor compares with a float one by
value. Each takes ``out=`` as PyTorch does (``ember.ops.out``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy
from ember.ops.arithmetic import Operand, elementwise, operands
from ember.ops.out import written


def _compare(ufunc: np.ufunc, name: str, a: Operand, b: Operand, out: Any) -> Tensor:
    a, b = operands(a, b)
    values = elementwise(name, ufunc, getattr(a, "array", a), getattr(b, "array", b))
    return written(name, from_numpy(np.asarray(values)), out)


def eq(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return _compare(np.equal, "eq", a, b, out)


def ne(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return _compare(np.not_equal, "ne", a, b, out)


def lt(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return _compare(np.less, "lt", a, b, out)


def le(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return _compare(np.less_equal, "le", a, b, out)


def gt(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return _compare(np.greater, "gt", a, b, out)


def ge(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return _compare(np.greater_equal, "ge", a, b, out)


not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge


def logical_and(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return _compare(np.logical_and, "logical_and", a, b, out)


def logical_or(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return _compare(np.logical_or, "logical_or", a, b, out)


def logical_xor(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return _compare(np.logical_xor, "logical_xor", a, b, out)


def logical_not(a: Tensor, *, out: Any = None) -> Tensor:
    return written("logical_not", from_numpy(np.asarray(np.logical_not(a.array))), out)


def isnan(a: Tensor) -> Tensor:
    return from_numpy(np.asarray(np.isnan(a.array)))


def isinf(a: Tensor) -> Tensor:
    return from_numpy(np.asarray(np.isinf(a.array)))


def isfinite(a: Tensor) -> Tensor:
    return from_numpy(np.asarray(np.isfinite(a.array)))


def isclose(
    a: Tensor, b: Operand, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    """|a - b| <= atol + rtol |b|, elementwise (``torch.isclose``)."""
    a, b = operands(a, b)
    other = b.array if isinstance(b, Tensor) else b
    values = np.isclose(a.array, other, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return from_numpy(np.asarray(values))


def allclose(
    a: Tensor, b: Operand, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    return bool(isclose(a, b, rtol, atol, equal_nan).array.all())


def equal(a: Tensor, b: Tensor) -> bool:
    """True if both have the same shape and values (``torch.equal``)."""
    return a.shape == b.shape and bool(np.array_equal(a.array, b.array))
