"""``Tensor``: a NumPy array that remembers how it was made, so that gradients can flow back through it.

A tensor holds its values (a NumPy array, float32 by default), whether it ``requires_grad``, the graph node
that produced it (``grad_fn``; ``None`` for a leaf such as a parameter or an input), and, after
``backward()``, its gradient ``.grad`` (accumulated across calls until zeroed, as in PyTorch).

This file is the engine's half of Tensor: storage, autograd state, ``backward``, conversions, and the rules
of in-place change. PyTorch's method names for the mathematics (``x + y``, ``x.sum()``) are the table in
``ember.autograd.methods``, which calls ``ember.ops``.

Two ways to the values, for two kinds of code:

- ``.array`` is the NumPy array itself (read-only attribute; the array is shared, not copied, and may be
  written into). It is how Ember's own code above the engine (Functions, layers, optimizers, loaders)
  computes on a tensor's values; ``from_numpy(array)`` is the way back, a tensor with no graph sharing the
  array's memory.
- ``.data`` is PyTorch's: a tensor sharing the storage, cut from the graph (``requires_grad=False``) and
  with a version counter of its own, so changes through it are not seen by autograd
  (``p.data.add_(...)``, ``p.data -= lr * p.grad``); assigning ``p.data = t`` replaces the values with
  ``t``'s. Users reach the array as in PyTorch with ``.numpy()`` (``numpy(force=True)`` also for a tensor
  that requires grad).
"""

from __future__ import annotations

import weakref
from builtins import bool as _bool
from builtins import float as _float
from builtins import int as _int
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ember import dtypes
from ember.autograd.conversion import TensorConversions
from ember.autograd.families import TensorFamilies
from ember.autograd.grad_mode import STATE, no_grad
from ember.autograd.graph import Context, GradHook, VersionCounter
from ember.autograd.methods import TensorMethods
from ember.autograd.size import Size

Hook = Callable[["Tensor"], Any]  # called with the gradient; returns None or a replacement

# ember.autograd.backprop (the entry points of backpropagation, above this module: it makes tensors) binds
# itself here when it is imported, as ember.ops binds Tensor's methods (bind_backprop).
backprop: Any = None


def bind_backprop(module: Any) -> None:
    global backprop
    backprop = module


class Tensor(TensorConversions["Tensor"], TensorFamilies["Tensor"], TensorMethods["Tensor"]):
    """An n-dimensional array with reverse-mode automatic differentiation."""

    __slots__ = ("__weakref__", "_array", "_hooks", "_requires_grad", "_version_counter", "grad", "grad_fn")
    __array_ufunc__ = None  # NumPy defers to Tensor's reflected operators: ndarray * Tensor -> Tensor

    def __init__(self, data: Any, dtype: Any = None, requires_grad: _bool = False) -> None:
        self._array = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self.grad_fn: Context | None = None
        self._version_counter: VersionCounter | None = None
        self._hooks: list[GradHook] | None = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @property
    def array(self) -> np.ndarray:
        """The NumPy array holding the values (shared, not copied): how Ember's own code reads a tensor."""
        return self._array

    @property
    def data(self) -> Tensor:
        """PyTorch's ``.data``: the same storage as a tensor with no graph, whose changes autograd does
        not see (its own version counter); ``.detach()`` is the safe form."""
        return Tensor._from_op(self._array, None)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(
                f"data: a tensor's data must be set to a Tensor, not {type(value).__name__}; "
                "wrap an array with ember.from_numpy(array) or ember.tensor(values)"
            )
        if self._requires_grad and value._array.dtype.kind not in "fc":
            raise RuntimeError(
                f"data: this tensor requires grad, so its data must be floating point, not {value.dtype}"
            )
        self._array = value._array

    @classmethod
    def _from_op(cls, array: Any, grad_fn: Context | None, version: VersionCounter | None = None) -> Tensor:
        """Wrap an operation's result without copying or converting it (the engine's fast path)."""
        tensor = object.__new__(cls)
        tensor._array = array if type(array) is np.ndarray else np.asarray(array)
        tensor.grad = None
        tensor.grad_fn = grad_fn
        tensor._requires_grad = grad_fn is not None
        tensor._hooks = None
        tensor._version_counter = version
        if version is not None:
            version.shared = True
        return tensor

    def _counter(self) -> VersionCounter:
        """The counter of in-place changes to this tensor's storage (made when first needed)."""
        counter = self._version_counter
        if counter is None:
            counter = self._version_counter = VersionCounter()
        return counter

    @property
    def _version(self) -> _int:
        """How many times the storage was changed in place (PyTorch's ``Tensor._version``)."""
        return self._counter().value

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
                f"{self.grad_fn.function.__name__}. Use .detach() to get a leaf."
            )
        if value and self._array.dtype.kind not in "fc":
            raise RuntimeError(
                f"only floating-point tensors can require gradients, but this one is {self._array.dtype}; "
                "convert it first, e.g. x.float()."
            )
        self._requires_grad = _bool(value)

    def requires_grad_(self, requires_grad: _bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> _bool:
        return self.grad_fn is None

    def backward(
        self, gradient: Any = None, retain_graph: _bool | None = None, create_graph: _bool = False
    ) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires grad (into
        ``.grad``); ``create_graph=True`` records the backward pass too, so the gradients can be
        differentiated again (``ember.autograd.backprop``)."""
        backprop.backward(self, gradient, retain_graph, create_graph)

    def _accumulate_grad(self, grad: Any, owned: _bool, run_hooks: _bool = True) -> None:
        """Add ``grad`` into ``.grad`` (the walk's one call into a tensor). An ``owned`` array (see the
        ownership rule in ``ember.autograd.graph``) becomes ``.grad`` as it is; any other is copied."""
        if run_hooks and self._hooks:
            for hook in self._hooks:
                grad = hook(grad)
            owned = False  # a hook saw the array and may have kept it
        if isinstance(grad, Tensor):  # a recorded backward (create_graph): added out of place, as PyTorch
            self.grad = grad if self.grad is None else self.grad + grad
            return
        if self.grad is None:
            keep = owned and grad.dtype == self._array.dtype and grad.flags.writeable
            self.grad = Tensor._from_op(grad if keep else np.array(grad, dtype=self._array.dtype), None)
        else:
            np.add(self.grad._array, grad, out=self.grad._array, casting="unsafe")

    def detach(self) -> Tensor:
        """The same values (shared storage), cut from the graph."""
        return Tensor._from_op(self._array, None, self._counter())

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for a non-leaf tensor too (leaves always keep it)."""
        if self.grad_fn is not None:
            self.grad_fn.retained_output = weakref.ref(self)

    @property
    def retains_grad(self) -> _bool:
        return self.grad_fn is not None and self.grad_fn.retained_output is not None

    def register_hook(self, hook: Hook) -> Callable[[], None]:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a replacement."""
        if not self._requires_grad:
            raise RuntimeError(
                "register_hook: this tensor does not require grad, so no gradient will reach it"
            )
        if self.grad_fn is None:
            hooks = self._hooks = self._hooks or []
        else:
            hooks = self.grad_fn.hooks = self.grad_fn.hooks or []

        def on_array(grad: Any) -> Any:  # an array; a tensor when the backward pass is recorded
            recorded = isinstance(grad, Tensor)
            replaced = hook(grad if recorded else Tensor._from_op(grad, None))
            if replaced is None:
                return grad
            if recorded:
                return replaced if isinstance(replaced, Tensor) else Tensor(replaced, dtype=grad.dtype)
            return np.asarray(replaced._array if isinstance(replaced, Tensor) else replaced)

        hooks.append(on_array)
        return lambda: hooks.remove(on_array)

    # ----------------------------------------------------------------------------------------------
    # Array attributes
    @property
    def shape(self) -> Size:
        return tuple.__new__(Size, self._array.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._array.dtype

    @property
    def ndim(self) -> _int:
        return self._array.ndim

    def dim(self) -> _int:
        return self._array.ndim

    def size(self, dim: _int | None = None) -> Any:
        return tuple.__new__(Size, self._array.shape) if dim is None else self._array.shape[dim]

    def numel(self) -> _int:
        return self._array.size

    nelement = numel

    def element_size(self) -> _int:
        return self._array.itemsize

    def is_floating_point(self) -> _bool:
        return self._array.dtype.kind == "f"

    def __len__(self) -> _int:
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._array)

    def __iter__(self) -> Iterator[Tensor]:
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(len(self._array)):
            yield self[i]

    # ----------------------------------------------------------------------------------------------
    # Conversion
    def item(self) -> Any:
        if self._array.size != 1:
            raise RuntimeError(
                f"item: a tensor with {self._array.size} elements cannot be converted to a Python scalar"
            )
        return self._array.item()

    def tolist(self) -> Any:
        return self._array.tolist()

    def numpy(self, *, force: _bool = False) -> np.ndarray:
        """The underlying array (shared, not copied), as ``torch.Tensor.numpy``."""
        if self._requires_grad and not force:
            raise RuntimeError(
                "numpy: can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()"
            )
        return self._array

    def __array__(self, dtype: Any = None, copy: _bool | None = None) -> np.ndarray:
        array = self._array if dtype is None else self._array.astype(dtype, copy=False)
        return array.copy() if copy else array

    def __float__(self) -> _float:
        return _float(self.item())

    def __int__(self) -> _int:
        return _int(self.item())

    def __index__(self) -> _int:
        if self._array.dtype.kind not in "iub" or self._array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return _int(self.item())

    def __bool__(self) -> _bool:
        if self._array.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor of {self._array.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return _bool(self._array.item())

    def __repr__(self) -> str:
        body = np.array2string(
            self._array, separator=", ", prefix="tensor(", precision=4, suppress_small=True, threshold=200
        )
        extras = []
        if self._array.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool_):
            extras.append(f"dtype=ember.{self._array.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # ----------------------------------------------------------------------------------------------
    # In-place change: the storage changes and the version counter moves on (so that a saved tensor that
    # was changed is detected at backward); when gradients are recorded the tensor takes the new node.
    def _inplace(self, name: str, op: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Tensor:
        others_need_grad = any(isinstance(a, Tensor) and a._requires_grad for a in args)
        if STATE.enabled and (self._requires_grad or others_need_grad):
            if self.grad_fn is None and self._requires_grad:
                raise RuntimeError(
                    f"{name}: a leaf tensor that requires grad cannot be changed in place (its gradient "
                    "would no longer describe it); do it under `with ember.no_grad():`, or use an "
                    "out-of-place operation."
                )
            if self._counter().shared:
                raise RuntimeError(
                    f"{name}: in-place change with autograd of a tensor that shares storage with a view "
                    "is not supported by Ember; use the out-of-place form."
                )
            # The old value as its own tensor (a copy, with the old node), so the new node does not
            # point back at this tensor, which now stands for the new value.
            before = Tensor._from_op(self._array.copy(), self.grad_fn)
            before._requires_grad = self._requires_grad
            result = op(before, *args, **kwargs)
            np.copyto(self._array, result._array, casting="same_kind")
            self.grad_fn = result.grad_fn
            self._requires_grad = True
        else:
            with no_grad():
                result = op(self, *args, **kwargs)
            if result._array is not self._array:
                np.copyto(self._array, result._array, casting="same_kind")
        self._counter().value += 1
        return self


def is_tensor(obj: Any) -> _bool:
    """Whether ``obj`` is a Tensor (``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory and type, with no graph (``torch.from_numpy``)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor._from_op(array, None)


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    """A fresh array from data, with PyTorch's type inference (Python floats -> float32)."""
    if isinstance(data, Tensor):
        data = data._array
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
        return data._array
    if isinstance(data, list | tuple):
        return [_unwrap_nested(item) for item in data]
    return data
