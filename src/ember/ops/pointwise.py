"""The rest of PyTorch's pointwise arithmetic: ``reciprocal``, ``rsqrt``, ``square``, ``log2``, ``log10``,
``log1p``, ``expm1``, ``sin``, ``cos``, ``remainder``, ``fmod``, ``floor_divide``, and rounding: ``floor``,
``ceil``, ``round`` (half to even, with ``decimals``), ``trunc``.

Local gradients, as the course computes every gate's: d sin = cos, d cos = -sin, d(1/x) = -1/x^2, d(x^-1/2) =
-x^-3/2 / 2, d log_b(x) = 1 / (x ln b), d log(1+x) = 1/(1+x), d(e^x - 1) = e^x. ``remainder`` (the sign of the
divisor, Python's ``%``) and ``fmod`` (the sign of the dividend, C's) are a - b q for a rounded quotient q, so
their gradients are 1 for a and -q for b. ``floor_divide`` is a step function and records no gradient; the
rounding functions are steps too, and record a zero gradient, as PyTorch's. Each takes ``out=``
(``ember.ops.out``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor, from_numpy
from ember.ops import dual
from ember.ops.arithmetic import Operand, elementwise, mul, operands, pow
from ember.ops.broadcast import shape_of, unbroadcast
from ember.ops.out import written


class Reciprocal(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            out = np.reciprocal(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return -grad * out * out


class Logarithm(Function):
    """log_base(x) for base 2 or 10 (``np.log2``/``np.log10``, exact at powers of the base)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, base: int) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.base = base
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log2(x) if base == 2 else np.log10(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray, None]:
        (x,) = ctx.saved_tensors
        with np.errstate(divide="ignore"):
            return grad / (x * x.dtype.type(math.log(ctx.base))), None


class Log1p(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        with np.errstate(divide="ignore"):
            return grad / (1 + x)


class Expm1(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out = np.expm1(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * (out + 1)


class Sine(Function):
    """sin(x), or cos(x) with ``cosine``."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, cosine: bool) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.cosine = cosine
        return np.cos(x) if cosine else np.sin(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray, None]:
        (x,) = ctx.saved_tensors
        return (grad * -np.sin(x) if ctx.cosine else grad * np.cos(x)), None


class Modulo(Function):
    """a - b q with q = floor(a / b) (``remainder``) or trunc(a / b) (``fmod``)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any, name: str) -> np.ndarray:
        ufunc = np.remainder if name == "remainder" else np.fmod
        with np.errstate(divide="ignore", invalid="ignore"):
            out = elementwise(name, ufunc, a, b)
        if ctx.needs_input_grad[1]:
            ctx.save_for_backward(a, b)
        ctx.shapes, ctx.name_of = (shape_of(a), shape_of(b)), name
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any, None]:
        a_shape, b_shape = ctx.shapes
        grad_b = None
        if ctx.needs_input_grad[1]:
            a, b = ctx.saved_tensors
            with np.errstate(divide="ignore", invalid="ignore"):
                quotient = np.true_divide(a, b)
            rounded = np.floor(quotient) if ctx.name_of == "remainder" else np.trunc(quotient)
            grad_b = unbroadcast((-grad * rounded).astype(grad.dtype, copy=False), b_shape)
        grad_a = unbroadcast(grad, a_shape) if ctx.needs_input_grad[0] else None
        return grad_a, grad_b, None


class Rounding(Function):
    """A step function (floor, ceil, round, trunc): its derivative is zero wherever it exists, and PyTorch
    gives zero everywhere."""

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, how: str, decimals: int) -> np.ndarray:
        if how == "round":
            return np.round(x, decimals)  # half to even; x * 10^d rounded, / 10^d (PyTorch's formula)
        return {"floor": np.floor, "ceil": np.ceil, "trunc": np.trunc}[how](x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None]:
        return dual.zeros_like(grad), None, None


def _rounded(how: str, x: Tensor, decimals: int, out: Any) -> Tensor:
    if x.dtype.kind in "biu":  # integers are whole already; PyTorch returns them unchanged (a copy)
        if decimals:
            raise RuntimeError(f"{how}: decimals={decimals} needs a floating-point tensor, not {x.dtype}")
        return written(how, from_numpy(x.array.copy()), out)
    return written(how, Rounding.apply(x, how, decimals), out)


def floor(x: Tensor, *, out: Any = None) -> Tensor:
    """The largest integer <= x, elementwise (zero gradient)."""
    return _rounded("floor", x, 0, out)


def ceil(x: Tensor, *, out: Any = None) -> Tensor:
    """The smallest integer >= x, elementwise (zero gradient)."""
    return _rounded("ceil", x, 0, out)


def trunc(x: Tensor, *, out: Any = None) -> Tensor:
    """x rounded toward zero, elementwise (zero gradient)."""
    return _rounded("trunc", x, 0, out)


def round(x: Tensor, *, decimals: int = 0, out: Any = None) -> Tensor:
    """x rounded to ``decimals`` places, halves to even (``torch.round``: 2.5 -> 2, 3.5 -> 4)."""
    return _rounded("round", x, int(decimals), out)


def reciprocal(x: Tensor, *, out: Any = None) -> Tensor:
    return written("reciprocal", Reciprocal.apply(_floating(x)), out)


def rsqrt(x: Tensor, *, out: Any = None) -> Tensor:
    """1 / sqrt(x)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # nan below zero, as PyTorch's
        return written("rsqrt", pow(x if x.dtype.kind == "f" else x.float(), -0.5), out)


def square(x: Tensor, *, out: Any = None) -> Tensor:
    return written("square", mul(x, x), out)


def log2(x: Tensor, *, out: Any = None) -> Tensor:
    return written("log2", Logarithm.apply(_floating(x), 2), out)


def log10(x: Tensor, *, out: Any = None) -> Tensor:
    return written("log10", Logarithm.apply(_floating(x), 10), out)


def log1p(x: Tensor, *, out: Any = None) -> Tensor:
    return written("log1p", Log1p.apply(_floating(x)), out)


def expm1(x: Tensor, *, out: Any = None) -> Tensor:
    return written("expm1", Expm1.apply(_floating(x)), out)


def sin(x: Tensor, *, out: Any = None) -> Tensor:
    return written("sin", Sine.apply(_floating(x), False), out)


def cos(x: Tensor, *, out: Any = None) -> Tensor:
    return written("cos", Sine.apply(_floating(x), True), out)


def remainder(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    """a mod b with the sign of b (Python's ``%``, ``torch.remainder``)."""
    return written("remainder", Modulo.apply(*operands(a, b), "remainder"), out)


def fmod(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    """a mod b with the sign of a (C's ``fmod``, ``torch.fmod``)."""
    return written("fmod", Modulo.apply(*operands(a, b), "fmod"), out)


def floor_divide(a: Operand, b: Operand, *, out: Any = None) -> Tensor:
    """floor(a / b), elementwise; no gradient."""
    a, b = operands(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = elementwise("floor_divide", np.floor_divide, getattr(a, "array", a), getattr(b, "array", b))
    return written("floor_divide", from_numpy(np.asarray(values)), out)


def _floating(x: Tensor) -> Tensor:
    """Integer inputs of a transcendental function become the default float, as in PyTorch."""
    return x if x.dtype.kind == "f" else x.float()
