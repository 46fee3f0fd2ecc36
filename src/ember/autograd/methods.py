"""Tensor's PyTorch method table: ``x + y``, ``x.sum(1)``, ``x.view(2, 3)``, ``x.add_(y)``, ``x.float()``, ...

Each method calls the operation of the same name in ``ember.ops``, where the mathematics lives (a
``Function`` per operation, forward and backward side by side). The engine sits below the operations
(``ember.ops`` imports it), so it does not import them: ``ember.ops`` binds itself here when it is imported,
with ``bind_operations`` (the last lines of ``ember/ops/__init__.py``, the one place it does so), and the
methods look the operation up when they are called.

``Tensor`` (``ember.autograd.tensor``) inherits the table; ``TensorT`` is Tensor itself, so that the type
checker sees every method return a ``Tensor``.
"""

from __future__ import annotations

from builtins import bool as _bool
from builtins import float as _float
from builtins import int as _int
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from ember.autograd.grad_mode import is_grad_enabled
from ember.random import numpy_generator

TensorT = TypeVar("TensorT")
Scalar = int | float | bool

operations: Any = None  # the module ember.ops, bound by bind_operations


def bind_operations(module: Any) -> None:
    """Let Tensor's methods call ``module``'s operations (ember.ops calls this once, when it is imported)."""
    global operations
    operations = module


class TensorMethods(Generic[TensorT]):
    """PyTorch's method names for the operations of ``ember.ops``."""

    __slots__ = ()

    if TYPE_CHECKING:  # what the table uses of Tensor itself (ember.autograd.tensor)

        @property
        def array(self) -> np.ndarray: ...

        def _inplace(self, name: str, op: Callable[..., Any], *args: Any, **kwargs: Any) -> TensorT: ...

    # ----------------------------------------------------------------------------------------------
    # Operators
    def __add__(self, other: Any) -> TensorT:
        return operations.add(self, other)

    def __radd__(self, other: Any) -> TensorT:
        return operations.add(other, self)

    def __sub__(self, other: Any) -> TensorT:
        return operations.sub(self, other)

    def __rsub__(self, other: Any) -> TensorT:
        return operations.sub(other, self)

    def __mul__(self, other: Any) -> TensorT:
        return operations.mul(self, other)

    def __rmul__(self, other: Any) -> TensorT:
        return operations.mul(other, self)

    def __truediv__(self, other: Any) -> TensorT:
        return operations.div(self, other)

    def __rtruediv__(self, other: Any) -> TensorT:
        return operations.div(other, self)

    def __pow__(self, exponent: Any) -> TensorT:
        return operations.pow(self, exponent)

    def __rpow__(self, base: Any) -> TensorT:
        return operations.pow(base, self)

    def __matmul__(self, other: Any) -> TensorT:
        return operations.matmul(self, other)

    def __rmatmul__(self, other: Any) -> TensorT:
        return operations.matmul(other, self)

    def __neg__(self) -> TensorT:
        return operations.neg(self)

    def __pos__(self) -> TensorT:
        return self  # type: ignore[return-value]

    def __abs__(self) -> TensorT:
        return operations.abs(self)

    def __eq__(self, other: Any) -> TensorT:  # type: ignore[override]
        return operations.eq(self, other)

    def __ne__(self, other: Any) -> TensorT:  # type: ignore[override]
        return operations.ne(self, other)

    def __lt__(self, other: Any) -> TensorT:
        return operations.lt(self, other)

    def __le__(self, other: Any) -> TensorT:
        return operations.le(self, other)

    def __gt__(self, other: Any) -> TensorT:
        return operations.gt(self, other)

    def __ge__(self, other: Any) -> TensorT:
        return operations.ge(self, other)

    def __floordiv__(self, other: Any) -> TensorT:
        return operations.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> TensorT:
        return operations.floor_divide(other, self)

    def __mod__(self, other: Any) -> TensorT:
        return operations.remainder(self, other)

    def __rmod__(self, other: Any) -> TensorT:
        return operations.remainder(other, self)

    def __invert__(self) -> TensorT:
        return operations.logical_not(self)

    def __and__(self, other: Any) -> TensorT:
        return operations.logical_and(self, other)

    def __or__(self, other: Any) -> TensorT:
        return operations.logical_or(self, other)

    def __xor__(self, other: Any) -> TensorT:
        return operations.logical_xor(self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    __hash__ = object.__hash__  # identity, as PyTorch (defining __eq__ would otherwise remove it)

    def __getitem__(self, index: Any) -> TensorT:
        return operations.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._inplace("__setitem__", operations.index_put, index, value)

    # ----------------------------------------------------------------------------------------------
    # Copies and conversion (the public forms, x.to(...), x.float(), ...: ember.autograd.conversion)
    def _convert(self, dtype: Any) -> TensorT:
        return operations.to_dtype(self, dtype)

    def clone(self) -> TensorT:
        return operations.clone(self)

    # ----------------------------------------------------------------------------------------------
    # In-place operations (Tensor._inplace: the version counter, and the graph when it is recorded)
    def masked_fill_(self, mask: Any, value: Any) -> TensorT:
        return self._inplace("masked_fill_", operations.masked_fill, mask, value)

    def zero_(self) -> TensorT:
        return self._inplace("zero_", _replaced_by, 0)

    def fill_(self, value: Any) -> TensorT:
        return self._inplace("fill_", _replaced_by, value)

    def copy_(self, source: Any) -> TensorT:
        return self._inplace("copy_", _replaced_by, source)

    def uniform_(self, a: _float = 0.0, b: _float = 1.0, generator: Any = None) -> TensorT:
        values = numpy_generator(generator).uniform(a, b, self.array.shape)
        return self._inplace("uniform_", _replaced_by, values)

    def normal_(self, mean: _float = 0.0, std: _float = 1.0, generator: Any = None) -> TensorT:
        values = numpy_generator(generator).normal(mean, std, self.array.shape)
        return self._inplace("normal_", _replaced_by, values)

    def bernoulli_(self, p: Any = 0.5, generator: Any = None) -> TensorT:
        """1 with probability ``p`` (a number, or a tensor of probabilities), else 0 (DropPath's masks)."""
        probabilities = np.asarray(getattr(p, "array", p))
        values = numpy_generator(generator).random(self.array.shape) < probabilities
        return self._inplace("bernoulli_", _replaced_by, values.astype(self.array.dtype))

    # ----------------------------------------------------------------------------------------------
    # Reductions and other mathematics (pointwise families: ember.autograd.families)
    def masked_fill(self, mask: Any, value: Any) -> TensorT:
        return operations.masked_fill(self, mask, value)

    def sum(self, dim: Any = None, keepdim: _bool = False, dtype: Any = None) -> TensorT:
        return operations.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim: Any = None, keepdim: _bool = False) -> TensorT:
        return operations.mean(self, dim, keepdim)

    def prod(self, dim: _int | None = None, keepdim: _bool = False, dtype: Any = None) -> TensorT:
        return operations.prod(self, dim, keepdim, dtype=dtype)

    def cumsum(self, dim: _int, dtype: Any = None) -> TensorT:
        return operations.cumsum(self, dim, dtype=dtype)

    def count_nonzero(self, dim: Any = None) -> TensorT:
        return operations.count_nonzero(self, dim)

    def var(
        self,
        dim: Any = None,
        unbiased: _bool | None = None,
        keepdim: _bool = False,
        *,
        correction: Any = None,
    ) -> TensorT:
        return operations.var(self, dim, unbiased, keepdim, correction=correction)

    def std(
        self,
        dim: Any = None,
        unbiased: _bool | None = None,
        keepdim: _bool = False,
        *,
        correction: Any = None,
    ) -> TensorT:
        return operations.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, dim: Any = None, keepdim: _bool = False) -> Any:
        return operations.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: _bool = False) -> Any:
        return operations.min(self, dim, keepdim)

    def amax(self, dim: Any = None, keepdim: _bool = False) -> TensorT:
        return operations.amax(self, dim, keepdim)

    def amin(self, dim: Any = None, keepdim: _bool = False) -> TensorT:
        return operations.amin(self, dim, keepdim)

    def argmax(self, dim: _int | None = None, keepdim: _bool = False) -> TensorT:
        return operations.argmax(self, dim, keepdim)

    def argmin(self, dim: _int | None = None, keepdim: _bool = False) -> TensorT:
        return operations.argmin(self, dim, keepdim)

    def sort(self, dim: _int = -1, descending: _bool = False, stable: _bool = False) -> Any:
        return operations.sort(self, dim, descending, stable)

    def argsort(self, dim: _int = -1, descending: _bool = False, stable: _bool = False) -> TensorT:
        return operations.argsort(self, dim, descending, stable)

    def topk(self, k: _int, dim: _int = -1, largest: _bool = True, sorted: _bool = True) -> Any:
        return operations.topk(self, k, dim, largest, sorted)

    def unique(
        self,
        sorted: _bool = True,
        return_inverse: _bool = False,
        return_counts: _bool = False,
        dim: _int | None = None,
    ) -> Any:
        return operations.unique(self, sorted, return_inverse, return_counts, dim)

    def bincount(self, weights: Any = None, minlength: _int = 0) -> TensorT:
        return operations.bincount(self, weights, minlength)

    def logsumexp(self, dim: Any, keepdim: _bool = False) -> TensorT:
        return operations.logsumexp(self, dim, keepdim)

    def softmax(self, dim: _int) -> TensorT:
        return operations.softmax(self, dim)

    def log_softmax(self, dim: _int) -> TensorT:
        return operations.log_softmax(self, dim)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: _bool = False) -> TensorT:
        return operations.norm(self, p, dim, keepdim)

    def all(self, dim: _int | None = None, keepdim: _bool = False) -> TensorT:
        return operations.all(self, dim, keepdim)

    def any(self, dim: _int | None = None, keepdim: _bool = False) -> TensorT:
        return operations.any(self, dim, keepdim)

    # ----------------------------------------------------------------------------------------------
    # Shape
    def reshape(self, *shape: Any) -> TensorT:
        return operations.reshape(self, _shape_args(shape))

    def view(self, *shape: Any) -> TensorT:
        return operations.reshape(self, _shape_args(shape))

    def view_as(self, other: Any) -> TensorT:
        return operations.reshape(self, other.shape)

    def reshape_as(self, other: Any) -> TensorT:
        return operations.reshape(self, other.shape)

    def transpose(self, dim0: _int, dim1: _int) -> TensorT:
        return operations.transpose(self, dim0, dim1)

    def t(self) -> TensorT:
        if self.array.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but this one has {self.array.ndim}"
            )
        return self if self.array.ndim < 2 else operations.transpose(self, 0, 1)  # type: ignore[return-value]

    @property
    def T(self) -> TensorT:
        return operations.permute(self, tuple(reversed(range(self.array.ndim))))

    @property
    def mT(self) -> TensorT:
        return operations.transpose(self, -2, -1)

    def permute(self, *dims: Any) -> TensorT:
        return operations.permute(self, _shape_args(dims))

    def flatten(self, start_dim: _int = 0, end_dim: _int = -1) -> TensorT:
        return operations.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: Any = None) -> TensorT:
        return operations.squeeze(self, dim)

    def unsqueeze(self, dim: _int) -> TensorT:
        return operations.unsqueeze(self, dim)

    def expand(self, *sizes: Any) -> TensorT:
        return operations.expand(self, _shape_args(sizes))

    def expand_as(self, other: Any) -> TensorT:
        return operations.expand(self, other.shape)

    def flip(self, dims: Any) -> TensorT:
        return operations.flip(self, dims)

    def repeat(self, *repeats: Any) -> TensorT:
        return operations.repeat(self, _shape_args(repeats))

    def split(self, split_size_or_sections: Any, dim: _int = 0) -> tuple[TensorT, ...]:
        return operations.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: _int, dim: _int = 0) -> tuple[TensorT, ...]:
        return operations.chunk(self, chunks, dim)

    def unbind(self, dim: _int = 0) -> tuple[TensorT, ...]:
        return operations.unbind(self, dim)

    def movedim(self, source: Any, destination: Any) -> TensorT:
        return operations.movedim(self, source, destination)

    moveaxis = movedim

    def unflatten(self, dim: _int, sizes: Any) -> TensorT:
        return operations.unflatten(self, dim, sizes)

    def narrow(self, dim: _int, start: _int, length: _int) -> TensorT:
        return operations.narrow(self, dim, start, length)

    def roll(self, shifts: Any, dims: Any = None) -> TensorT:
        return operations.roll(self, shifts, dims)

    def repeat_interleave(self, repeats: Any, dim: _int | None = None) -> TensorT:
        return operations.repeat_interleave(self, repeats, dim)

    def diag(self, diagonal: _int = 0) -> TensorT:
        return operations.diag(self, diagonal)

    def tril(self, diagonal: _int = 0) -> TensorT:
        return operations.tril(self, diagonal)

    def triu(self, diagonal: _int = 0) -> TensorT:
        return operations.triu(self, diagonal)

    # ----------------------------------------------------------------------------------------------
    # Indexing
    def gather(self, dim: _int, index: Any) -> TensorT:
        return operations.gather(self, dim, index)

    def scatter(
        self, dim: _int, index: Any, src: Any = None, *, value: Any = None, reduce: Any = None
    ) -> TensorT:
        return operations.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_(
        self, dim: _int, index: Any, src: Any = None, *, value: Any = None, reduce: Any = None
    ) -> TensorT:
        return self._inplace("scatter_", operations.scatter, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: _int, index: Any, src: Any) -> TensorT:
        return operations.scatter_add(self, dim, index, src)

    def scatter_add_(self, dim: _int, index: Any, src: Any) -> TensorT:
        return self._inplace("scatter_add_", operations.scatter_add, dim, index, src)

    def index_select(self, dim: _int, index: Any) -> TensorT:
        return operations.index_select(self, dim, index)

    def masked_select(self, mask: Any) -> TensorT:
        return operations.masked_select(self, mask)

    def nonzero(self, *, as_tuple: _bool = False) -> Any:
        return operations.nonzero(self, as_tuple=as_tuple)

    def argwhere(self) -> TensorT:
        return operations.argwhere(self)

    # ----------------------------------------------------------------------------------------------
    # New tensors with this one's type (PyTorch's new_*: the dtype is self's unless given)
    def new_zeros(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: _bool = False
    ) -> TensorT:
        return operations.zeros(
            *size, dtype=self._new_dtype(dtype), device=device, requires_grad=requires_grad
        )

    def new_ones(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: _bool = False
    ) -> TensorT:
        return operations.ones(
            *size, dtype=self._new_dtype(dtype), device=device, requires_grad=requires_grad
        )

    def new_empty(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: _bool = False
    ) -> TensorT:
        return operations.empty(
            *size, dtype=self._new_dtype(dtype), device=device, requires_grad=requires_grad
        )

    def new_full(
        self,
        size: Any,
        fill_value: Any,
        *,
        dtype: Any = None,
        device: Any = None,
        requires_grad: _bool = False,
    ) -> TensorT:
        dtype = self._new_dtype(dtype)
        return operations.full(size, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_tensor(
        self, data: Any, dtype: Any = None, device: Any = None, requires_grad: _bool = False
    ) -> TensorT:
        """A copy of ``data`` with this tensor's type (unlike ``ember.tensor``, which infers one)."""
        dtype = self._new_dtype(dtype)
        return operations.tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)

    def _new_dtype(self, dtype: Any) -> Any:
        return self.array.dtype if dtype is None else dtype


def _shape_args(args: tuple[Any, ...]) -> tuple[int, ...]:
    """``x.view(2, 3)`` and ``x.view((2, 3))`` mean the same."""
    if len(args) == 1 and isinstance(args[0], Sequence | np.ndarray):
        return tuple(_int(a) for a in args[0])
    return tuple(_int(a) for a in args)


def _replaced_by(tensor: Any, values: Any) -> Any:
    """The new contents of ``tensor`` for ``fill_``/``copy_``/``zero_``: ``values`` broadcast to its shape
    and type; the old contents get a zero gradient, and do not enter the values (a NaN there is gone)."""
    replacement = operations.as_tensor(values)
    if not is_grad_enabled():  # nothing recorded: Tensor._inplace's copy into the storage broadcasts,
        # and casts within a kind (float64 -> float32) in the same pass; across kinds, convert first
        same_kind = replacement.dtype.kind == tensor.dtype.kind
        return replacement if same_kind else operations.to_dtype(replacement, tensor.dtype)
    return operations.where(True, operations.to_dtype(replacement, tensor.dtype), tensor)
