"""``Tensor``: a NumPy array that remembers how it was made, so that gradients can flow back through it.

A tensor holds its values (``.data``, a NumPy array, float32 by default), whether it ``requires_grad``, the
graph node that produced it (``grad_fn``; ``None`` for a leaf such as a parameter or an input), and, after
``backward()``, its gradient ``.grad`` (accumulated across calls until zeroed, as in PyTorch). The
mathematics lives in ``ember.ops``; the methods here are PyTorch's names for it.
"""

from __future__ import annotations

from builtins import bool as _bool
from builtins import float as _float
from builtins import int as _int
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ember import dtypes
from ember.autograd.function import Context, VersionCounter
from ember.autograd.grad_mode import STATE, no_grad

Scalar = int | float | bool
# Tensor has methods named int, float and bool (as in PyTorch); these aliases keep the types in reach.


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation."""

    __slots__ = ("__weakref__", "_hooks", "_requires_grad", "_version_counter", "data", "grad", "grad_fn")
    __array_ufunc__ = None  # NumPy defers to Tensor's reflected operators: ndarray * Tensor -> Tensor

    def __init__(self, data: Any, dtype: Any = None, requires_grad: _bool = False) -> None:
        self.data = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self.grad_fn: Context | None = None
        self._version_counter: VersionCounter | None = None
        self._hooks: list[Callable[[Tensor], Any]] | None = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _from_op(cls, array: Any, grad_fn: Context | None, version: VersionCounter | None = None) -> Tensor:
        """Wrap an operation's result without copying or converting it (the fast path)."""
        tensor = object.__new__(cls)
        tensor.data = array if type(array) is np.ndarray else np.asarray(array)
        tensor.grad = None
        tensor.grad_fn = grad_fn
        tensor._requires_grad = grad_fn is not None
        tensor._hooks = None
        tensor._version_counter = version
        if version is not None:
            version.shared = True
        return tensor

    @property
    def _version(self) -> VersionCounter:
        """The counter of in-place changes to this tensor's storage (made when first needed)."""
        counter = self._version_counter
        if counter is None:
            counter = self._version_counter = VersionCounter()
        return counter

    # ----------------------------------------------------------------------------------------------
    # Autograd state
    @property
    def requires_grad(self) -> _bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: _bool) -> None:
        if self.grad_fn is not None:
            raise RuntimeError(
                "requires_grad can only be changed on leaf tensors; this one was made by "
                f"{self.grad_fn.name}. Use .detach() to get a leaf."
            )
        if value and self.data.dtype.kind not in "fc":
            raise RuntimeError(
                f"only floating-point tensors can require gradients, but this one is {self.data.dtype}; "
                "convert it first, e.g. x.float()."
            )
        self._requires_grad = _bool(value)

    def requires_grad_(self, requires_grad: _bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> _bool:
        return self.grad_fn is None

    @property
    def _version_value(self) -> _int:
        return self._version.value

    def backward(
        self, gradient: Any = None, retain_graph: _bool = False, create_graph: _bool = False
    ) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires grad."""
        if create_graph:
            raise NotImplementedError("create_graph (higher-order gradients) is not supported by Ember")
        from ember.autograd.graph import backward

        backward(self, gradient, retain_graph)

    def detach(self) -> Tensor:
        """The same values (shared storage), cut from the graph."""
        return Tensor._from_op(self.data, None, self._version)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for a non-leaf tensor too (leaves always keep it)."""
        if self.grad_fn is None:
            return
        import weakref

        self.grad_fn.retained_output = weakref.ref(self)

    @property
    def retains_grad(self) -> _bool:
        return self.grad_fn is not None and self.grad_fn.retained_output is not None

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Callable[[], None]:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a replacement."""
        if not self._requires_grad:
            raise RuntimeError(
                "register_hook: this tensor does not require grad, so no gradient will reach it"
            )
        if self.grad_fn is None:
            hooks = self._hooks = self._hooks or []
        else:
            hooks = self.grad_fn.hooks = self.grad_fn.hooks or []
        hooks.append(hook)
        return lambda: hooks.remove(hook)

    # ----------------------------------------------------------------------------------------------
    # Array attributes
    @property
    def shape(self) -> tuple[_int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    @property
    def ndim(self) -> _int:
        return self.data.ndim

    @property
    def device(self) -> str:
        return "cpu"

    def dim(self) -> _int:
        return self.data.ndim

    def size(self, dim: _int | None = None) -> Any:
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> _int:
        return self.data.size

    def element_size(self) -> _int:
        return self.data.itemsize

    def is_floating_point(self) -> _bool:
        return self.data.dtype.kind == "f"

    def __len__(self) -> _int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(len(self.data)):
            yield self[i]

    # ----------------------------------------------------------------------------------------------
    # Conversion
    def item(self) -> Any:
        if self.data.size != 1:
            raise RuntimeError(
                f"item: a tensor with {self.data.size} elements cannot be converted to a Python scalar"
            )
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), as ``torch.Tensor.numpy``."""
        if self._requires_grad:
            raise RuntimeError(
                "numpy: can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()"
            )
        return self.data

    def __array__(self, dtype: Any = None, copy: _bool | None = None) -> np.ndarray:
        array = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return array.copy() if copy else array

    def __float__(self) -> _float:
        return _float(self.item())

    def __int__(self) -> _int:
        return _int(self.item())

    def __index__(self) -> _int:
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return _int(self.item())

    def __bool__(self) -> _bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor of {self.data.size} elements is ambiguous; use .any() or .all()"
            )
        return _bool(self.data.item())

    def to(self, dtype: Any = None, *args: Any, **kwargs: Any) -> Tensor:
        """Convert the type (``'cpu'`` as a device is accepted and changes nothing)."""
        target = kwargs.get("dtype", dtype)
        if target is None or (isinstance(target, str) and target.startswith("cpu")):
            return self
        return ops.to_dtype(self, dtypes.as_dtype(target))

    def type(self, dtype: Any) -> Tensor:
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def cpu(self) -> Tensor:
        return self

    def contiguous(self) -> Tensor:
        return self

    def clone(self) -> Tensor:
        return ops.clone(self)

    def __repr__(self) -> str:
        body = np.array2string(
            self.data,
            separator=", ",
            prefix="tensor(",
            precision=4,
            suppress_small=True,
            threshold=200,
        )
        extras = []
        if self.data.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool_):
            extras.append(f"dtype=ember.{self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # ----------------------------------------------------------------------------------------------
    # Operators
    def __add__(self, other: Any) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.div(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        return ops.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return ops.pow(base, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.abs(self)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.ne(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return ops.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return ops.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return ops.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return ops.ge(self, other)

    def __invert__(self) -> Tensor:
        return ops.logical_not(self)

    def __and__(self, other: Any) -> Tensor:
        return ops.logical_and(self, other)

    def __or__(self, other: Any) -> Tensor:
        return ops.logical_or(self, other)

    __hash__ = object.__hash__

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._inplace("__setitem__", ops.index_put, index, value)

    # ----------------------------------------------------------------------------------------------
    # In-place operations: change the storage, bump the version counter (so that a saved tensor that was
    # changed is detected at backward), and re-record the graph when gradients are being tracked.
    def _inplace(self, name: str, op: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Tensor:
        others_need_grad = any(isinstance(a, Tensor) and a._requires_grad for a in args)
        if STATE.enabled and (self._requires_grad or others_need_grad):
            if self.grad_fn is None and self._requires_grad:
                raise RuntimeError(
                    f"{name}: a leaf tensor that requires grad cannot be changed in place (its gradient "
                    "would no longer describe it); do it under `with ember.no_grad():`, or use an "
                    "out-of-place operation."
                )
            if self._version.shared:
                raise RuntimeError(
                    f"{name}: in-place change with autograd of a tensor that shares storage with a view "
                    "is not supported by Ember; use the out-of-place form."
                )
            before = Tensor._from_op(self.data.copy(), self.grad_fn)
            before._requires_grad = self._requires_grad
            result = op(before, *args, **kwargs)
            np.copyto(self.data, result.data, casting="same_kind")
            self.grad_fn = result.grad_fn
            self._requires_grad = True
        else:
            with no_grad():
                result = op(self, *args, **kwargs)
            if result.data is not self.data:
                np.copyto(self.data, result.data, casting="same_kind")
        self._version.value += 1
        return self

    def add_(self, other: Any, alpha: Scalar = 1) -> Tensor:
        return self._inplace("add_", ops.add, other if alpha == 1 else ops.mul(other, alpha))

    def sub_(self, other: Any, alpha: Scalar = 1) -> Tensor:
        return self._inplace("sub_", ops.sub, other if alpha == 1 else ops.mul(other, alpha))

    def mul_(self, other: Any) -> Tensor:
        return self._inplace("mul_", ops.mul, other)

    def div_(self, other: Any) -> Tensor:
        return self._inplace("div_", ops.div, other)

    def pow_(self, exponent: Any) -> Tensor:
        return self._inplace("pow_", ops.pow, exponent)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return self._inplace("clamp_", ops.clamp, min, max)

    clip_ = clamp_

    def relu_(self) -> Tensor:
        return self._inplace("relu_", ops.relu)

    def neg_(self) -> Tensor:
        return self._inplace("neg_", ops.neg)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        return self._inplace("masked_fill_", ops.masked_fill, mask, value)

    def zero_(self) -> Tensor:
        return self._inplace("zero_", ops.mul, 0)

    def fill_(self, value: Any) -> Tensor:
        return self._inplace("fill_", _replaced_by, value)

    def copy_(self, source: Any) -> Tensor:
        return self._inplace("copy_", _replaced_by, source)

    def uniform_(self, a: _float = 0.0, b: _float = 1.0, generator: Any = None) -> Tensor:
        from ember.random import numpy_generator

        values = numpy_generator(generator).uniform(a, b, self.data.shape)
        return self._inplace("uniform_", _replaced_by, values)

    def normal_(self, mean: _float = 0.0, std: _float = 1.0, generator: Any = None) -> Tensor:
        from ember.random import numpy_generator

        values = numpy_generator(generator).normal(mean, std, self.data.shape)
        return self._inplace("normal_", _replaced_by, values)

    # ----------------------------------------------------------------------------------------------
    # Mathematics: PyTorch's method names for the operations in ember.ops
    def add(self, other: Any, alpha: Scalar = 1) -> Tensor:
        return ops.add(self, other if alpha == 1 else ops.mul(other, alpha))

    def sub(self, other: Any, alpha: Scalar = 1) -> Tensor:
        return ops.sub(self, other if alpha == 1 else ops.mul(other, alpha))

    def mul(self, other: Any) -> Tensor:
        return ops.mul(self, other)

    def div(self, other: Any) -> Tensor:
        return ops.div(self, other)

    def pow(self, exponent: Any) -> Tensor:
        return ops.pow(self, exponent)

    def neg(self) -> Tensor:
        return ops.neg(self)

    def exp(self) -> Tensor:
        return ops.exp(self)

    def log(self) -> Tensor:
        return ops.log(self)

    def sqrt(self) -> Tensor:
        return ops.sqrt(self)

    def square(self) -> Tensor:
        return ops.mul(self, self)

    def abs(self) -> Tensor:
        return ops.abs(self)

    def sign(self) -> Tensor:
        return ops.sign(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        return ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        return ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return ops.minimum(self, other)

    def sigmoid(self) -> Tensor:
        return ops.sigmoid(self)

    def tanh(self) -> Tensor:
        return ops.tanh(self)

    def relu(self) -> Tensor:
        return ops.relu(self)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return ops.masked_fill(self, mask, value)

    def sum(self, dim: Any = None, keepdim: _bool = False, dtype: Any = None) -> Tensor:
        return ops.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim: Any = None, keepdim: _bool = False) -> Tensor:
        return ops.mean(self, dim, keepdim)

    def var(
        self,
        dim: Any = None,
        unbiased: _bool | None = None,
        keepdim: _bool = False,
        *,
        correction: Any = None,
    ) -> Tensor:
        return ops.var(self, dim, unbiased, keepdim, correction=correction)

    def std(
        self,
        dim: Any = None,
        unbiased: _bool | None = None,
        keepdim: _bool = False,
        *,
        correction: Any = None,
    ) -> Tensor:
        return ops.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, dim: Any = None, keepdim: _bool = False) -> Any:
        return ops.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: _bool = False) -> Any:
        return ops.min(self, dim, keepdim)

    def amax(self, dim: Any = None, keepdim: _bool = False) -> Tensor:
        return ops.amax(self, dim, keepdim)

    def amin(self, dim: Any = None, keepdim: _bool = False) -> Tensor:
        return ops.amin(self, dim, keepdim)

    def argmax(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return ops.argmax(self, dim, keepdim)

    def argmin(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return ops.argmin(self, dim, keepdim)

    def logsumexp(self, dim: Any, keepdim: _bool = False) -> Tensor:
        return ops.logsumexp(self, dim, keepdim)

    def softmax(self, dim: _int) -> Tensor:
        return ops.softmax(self, dim)

    def log_softmax(self, dim: _int) -> Tensor:
        return ops.log_softmax(self, dim)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: _bool = False) -> Tensor:
        return ops.norm(self, p, dim, keepdim)

    def all(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return ops.all(self, dim, keepdim)

    def any(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return ops.any(self, dim, keepdim)

    def reshape(self, *shape: Any) -> Tensor:
        return ops.reshape(self, _shape_args(shape))

    def view(self, *shape: Any) -> Tensor:
        return ops.reshape(self, _shape_args(shape))

    def view_as(self, other: Tensor) -> Tensor:
        return ops.reshape(self, other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return ops.reshape(self, other.shape)

    def transpose(self, dim0: _int, dim1: _int) -> Tensor:
        return ops.transpose(self, dim0, dim1)

    def t(self) -> Tensor:
        if self.data.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but this one has {self.data.ndim}"
            )
        return self if self.data.ndim < 2 else ops.transpose(self, 0, 1)

    @property
    def T(self) -> Tensor:
        return ops.permute(self, tuple(reversed(range(self.data.ndim))))

    @property
    def mT(self) -> Tensor:
        return ops.transpose(self, -2, -1)

    def permute(self, *dims: Any) -> Tensor:
        return ops.permute(self, _shape_args(dims))

    def flatten(self, start_dim: _int = 0, end_dim: _int = -1) -> Tensor:
        return ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: Any = None) -> Tensor:
        return ops.squeeze(self, dim)

    def unsqueeze(self, dim: _int) -> Tensor:
        return ops.unsqueeze(self, dim)

    def expand(self, *sizes: Any) -> Tensor:
        return ops.expand(self, _shape_args(sizes))

    def expand_as(self, other: Tensor) -> Tensor:
        return ops.expand(self, other.shape)

    def flip(self, dims: Any) -> Tensor:
        return ops.flip(self, dims)

    def repeat(self, *repeats: Any) -> Tensor:
        return ops.repeat(self, _shape_args(repeats))

    def split(self, split_size_or_sections: Any, dim: _int = 0) -> tuple[Tensor, ...]:
        return ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: _int, dim: _int = 0) -> tuple[Tensor, ...]:
        return ops.chunk(self, chunks, dim)

    def unbind(self, dim: _int = 0) -> tuple[Tensor, ...]:
        return ops.unbind(self, dim)

    def gather(self, dim: _int, index: Any) -> Tensor:
        return ops.gather(self, dim, index)

    def matmul(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def mm(self, other: Any) -> Tensor:
        return ops.matmul(self, other)


def _shape_args(args: tuple[Any, ...]) -> tuple[int, ...]:
    """``x.view(2, 3)`` and ``x.view((2, 3))`` mean the same."""
    if len(args) == 1 and isinstance(args[0], Sequence | np.ndarray):
        return tuple(_int(a) for a in args[0])
    return tuple(_int(a) for a in args)


def _replaced_by(tensor: Tensor, values: Any) -> Tensor:
    """The new contents of ``tensor`` for ``fill_``/``copy_``: ``values`` broadcast to its shape and type."""
    replacement = values if isinstance(values, Tensor) else Tensor(np.asarray(values, dtype=tensor.dtype))
    return ops.add(ops.mul(tensor, 0), ops.to_dtype(replacement, tensor.dtype))


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    """A fresh array from data, with PyTorch's type inference (Python floats -> float32)."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtypes.as_dtype(dtype))
    if isinstance(data, np.ndarray | np.generic):
        return np.array(data)
    array = np.array(_unwrap_nested(data))
    if array.dtype.kind == "f":
        return array.astype(dtypes.get_default_dtype(), copy=False)
    if array.dtype.kind in "iu":
        return array.astype(dtypes.int64, copy=False)
    if array.dtype.kind in "bf":
        return array
    raise TypeError(f"tensor: cannot make a tensor from data of type {array.dtype} ({type(data).__name__})")


def _unwrap_nested(data: Any) -> Any:
    """Lists may hold 0-d tensors (e.g. [x.sum(), y.sum()]): take their values."""
    if isinstance(data, Tensor):
        return data.data
    if isinstance(data, list | tuple):
        return [_unwrap_nested(item) for item in data]
    return data


from ember import ops  # noqa: E402 - the operations are built on Tensor; imported last to break the cycle
