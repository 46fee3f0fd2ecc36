"""Arithmetic: add, sub, mul, div, neg, pow; type conversion and copies.

The course's gates: add distributes the upstream gradient unchanged to both inputs; mul swaps its inputs
("swap multiplier": d(xy)/dx = y). Binary operations broadcast as NumPy and PyTorch do, and backward sums
the gradient back over broadcast axes (``unbroadcast``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember import dtypes
from ember.autograd import Context, Function, Tensor, from_numpy
from ember.ops import dual
from ember.ops.broadcast import broadcast_shapes, shape_of, unbroadcast
from ember.ops.out import written

Operand = Any  # a Tensor, a NumPy array or a Python scalar


def operands(a: Operand, b: Operand) -> tuple[Operand, Operand]:
    """Bring two operands to PyTorch's common type: scalars never widen a tensor, int meets float -> float."""
    # The common cases first: the same types, or a float tensor and a Python number.
    if isinstance(a, Tensor) and (
        (isinstance(b, Tensor) and a.array.dtype == b.array.dtype)
        or (type(b) in (float, int) and a.array.dtype.kind == "f")
    ):
        return a, b
    a, b = _as_operand(a), _as_operand(b)
    a_array, b_array = getattr(a, "array", a), getattr(b, "array", b)
    a_kind = a_array.dtype.kind if isinstance(a_array, np.ndarray) else _scalar_kind(a_array)
    b_kind = b_array.dtype.kind if isinstance(b_array, np.ndarray) else _scalar_kind(b_array)
    if a_kind == b_kind or (a_kind in "iu" and b_kind in "iu"):
        return a, b
    if a_kind == "f" and isinstance(b, Tensor):
        return a, to_dtype(b, _float_type(a_array))
    if b_kind == "f" and isinstance(a, Tensor):
        return to_dtype(a, _float_type(b_array)), b
    if a_kind == "b" and isinstance(a, Tensor) and b_kind in "iu":  # bool meets int
        return to_dtype(a, dtypes.int64), b
    if b_kind == "b" and isinstance(b, Tensor) and a_kind in "iu":
        return a, to_dtype(b, dtypes.int64)
    return a, b


def _float_type(value: Any) -> Any:
    return value.dtype if isinstance(value, np.ndarray) else dtypes.get_default_dtype()


def _as_operand(value: Operand) -> Operand:
    if isinstance(value, np.generic):  # NumPy scalars (even np.float64, a float) would widen float32
        return value.item()
    if isinstance(value, Tensor | int | float):  # bool is an int
        return value
    return Tensor(value)


def _scalar_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "b"
    return "i" if isinstance(value, int) else "f"


def elementwise(name: str, ufunc: np.ufunc, a: Any, b: Any) -> np.ndarray:
    """Apply a binary ufunc; a broadcasting failure names the operation and both shapes."""
    try:
        return ufunc(a, b)
    except ValueError:
        broadcast_shapes(name, shape_of(a), shape_of(b))
        raise


class Add(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        ctx.shapes = (shape_of(a), shape_of(b))
        return elementwise("add", np.add, a, b)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any]:
        a_shape, b_shape = ctx.shapes
        a_needs, b_needs = ctx.needs_input_grad
        return (
            unbroadcast(grad, a_shape) if a_needs else None,
            unbroadcast(grad, b_shape) if b_needs else None,
        )


class Sub(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        ctx.shapes = (shape_of(a), shape_of(b))
        return elementwise("sub", np.subtract, a, b)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any]:
        a_shape, b_shape = ctx.shapes
        a_needs, b_needs = ctx.needs_input_grad
        return (
            unbroadcast(grad, a_shape) if a_needs else None,
            -unbroadcast(grad, b_shape) if b_needs else None,
        )


class Mul(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        a_needs, b_needs = ctx.needs_input_grad
        ctx.save_for_backward(b if a_needs else None, a if b_needs else None)
        ctx.shapes = (shape_of(a), shape_of(b))
        return elementwise("mul", np.multiply, a, b)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any]:
        b, a = ctx.saved_tensors
        a_shape, b_shape = ctx.shapes
        return (
            unbroadcast(grad * b, a_shape) if b is not None else None,
            unbroadcast(grad * a, b_shape) if a is not None else None,
        )


class Div(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        out = elementwise("div", np.true_divide, a, b)
        ctx.save_for_backward(b, out if ctx.needs_input_grad[1] else None)
        ctx.shapes = (shape_of(a), shape_of(b))
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any]:
        b, out = ctx.saved_tensors
        a_shape, b_shape = ctx.shapes
        grad_a = grad / b
        return (
            unbroadcast(grad_a, a_shape) if ctx.needs_input_grad[0] else None,
            unbroadcast(-grad_a * out, b_shape) if out is not None else None,
        )


class Neg(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        return np.negative(a)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return -grad


class Pow(Function):
    """a ** b. d/da = b a^(b-1) (zero where b = 0); d/db = a^b log a (zero where a = 0 and b >= 0)."""

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        out = elementwise("pow", np.power, a, b)
        ctx.save_for_backward(a, b, out)
        ctx.shapes = (shape_of(a), shape_of(b))
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any]:
        a, b, out = ctx.saved_tensors
        a_shape, b_shape = ctx.shapes
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            with np.errstate(divide="ignore", invalid="ignore"):
                local = dual.where(b == 0, 0, b * a ** (b - 1))
            grad_a = unbroadcast(dual.astype(grad * local, grad.dtype), a_shape)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                local = dual.where((a == 0) & (b >= 0), 0, out * dual.log(a))
            grad_b = unbroadcast(dual.astype(grad * local, grad.dtype), b_shape)
        return grad_a, grad_b


def add(a: Operand, b: Operand, *, alpha: Any = 1, out: Any = None) -> Tensor:
    """a + alpha b."""
    return written("add", Add.apply(*operands(a, b if alpha == 1 else mul(b, alpha))), out)


def sub(a: Operand, b: Operand, *, alpha: Any = 1, out: Any = None) -> Tensor:
    """a - alpha b."""
    return written("sub", Sub.apply(*operands(a, b if alpha == 1 else mul(b, alpha))), out)


def mul(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return written("mul", Mul.apply(*operands(a, b)), out)


def div(a: Operand, b: Operand, *, rounding_mode: str | None = None, out: Any = None) -> Tensor:
    """a / b (true division: integers give floats); ``rounding_mode`` "trunc" or "floor" rounds the
    quotient (no gradient, as its derivative is zero almost everywhere)."""
    a, b = operands(a, b)
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(
                f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                f"'{rounding_mode}'"
            )
        a_array, b_array = getattr(a, "array", a), getattr(b, "array", b)
        if rounding_mode == "floor":
            values = elementwise("div", np.floor_divide, a_array, b_array)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.trunc(elementwise("div", np.true_divide, a_array, b_array))
            values = values.astype(np.result_type(a_array, b_array), copy=False)
        return written("div", from_numpy(np.asarray(values)), out)
    if _kind(a) != "f" and _kind(b) != "f":  # true division of integers gives floats, as in PyTorch
        a = to_dtype(a if isinstance(a, Tensor) else Tensor(a), dtypes.get_default_dtype())
    return written("div", Div.apply(a, b), out)


def neg(a: Tensor, *, out: Any = None) -> Tensor:
    return written("neg", Neg.apply(a), out)


def pow(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    return written("pow", Pow.apply(*operands(a, b)), out)


subtract, multiply, divide, true_divide, negative = sub, mul, div, div, neg


def _kind(value: Any) -> str:
    data = getattr(value, "array", value)
    return data.dtype.kind if isinstance(data, np.ndarray) else _scalar_kind(data)


# --------------------------------------------------------------------------------------------------
# Type conversion and copies.
class ToDtype(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        return dual.astype(grad, ctx.dtype), None


def to_dtype(a: Tensor, dtype: Any) -> Tensor:
    dtype = dtypes.as_dtype(dtype)
    if a.dtype == dtype:
        return a
    if dtype.kind not in "fc":  # integers and booleans carry no gradient
        return from_numpy(a.array.astype(dtype))
    return ToDtype.apply(a, dtype)


class Clone(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        return a.copy()

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return grad


def clone(a: Tensor) -> Tensor:
    return Clone.apply(a)
