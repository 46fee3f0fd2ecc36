"""Matrix multiplication, the affine map ``linear(x, W, b) = x W^T + b``, a matrix's triangles (``tril``,
``triu``: the rest set to zero, and its gradient with it) and its diagonal (``diag``: read with a mask,
whose backward writes the gradient back in place).

For C = A B the gradients are dA = dC B^T and dB = A^T dC: each is again a matrix multiply, so the backward
pass costs twice the forward and runs at GEMM speed. Leading (batch) dimensions broadcast as in NumPy and
PyTorch; backward sums the gradient over the broadcast ones.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor
from ember.ops import dual
from ember.ops.arithmetic import operands
from ember.ops.broadcast import reshaped, unbroadcast
from ember.ops.elementwise import where
from ember.ops.indexing import getitem, index_put
from ember.ops.out import written


class MatMul(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both arguments must have at least one dimension; use * for scalars")
        inner_a, inner_b = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
        if inner_a != inner_b:
            raise ValueError(
                f"matmul: cannot multiply shapes {a.shape} and {b.shape}: the inner dimensions "
                f"{inner_a} and {inner_b} differ"
            )
        a_needs, b_needs = ctx.needs_input_grad
        ctx.save_for_backward(a if b_needs else None, b if a_needs else None)
        ctx.shapes = (a.shape, b.shape)
        try:
            return dual.matmul(a, b)
        except ValueError:
            raise ValueError(
                f"matmul: the batch dimensions of {a.shape} and {b.shape} cannot be broadcast together"
            ) from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        a_shape, b_shape = ctx.shapes
        # A vector is a matrix for matmul: a row on the left, a column on the right.
        a_matrix_shape = (1, *a_shape) if len(a_shape) == 1 else a_shape
        b_matrix_shape = (*b_shape, 1) if len(b_shape) == 1 else b_shape
        if len(b_shape) == 1:  # first, so that a vector-vector product's 0-d gradient becomes (1, 1)
            grad = grad.reshape((*grad.shape, 1))
        if len(a_shape) == 1:
            grad = grad.reshape((*grad.shape[:-1], 1, grad.shape[-1]))
        grad_a = grad_b = None
        if b is not None:
            grad_a = dual.matmul(grad, dual.swapaxes(b.reshape(b_matrix_shape), -1, -2))
            grad_a = reshaped(unbroadcast(grad_a, a_matrix_shape), a_shape)
        if a is not None:
            grad_b = dual.matmul(dual.swapaxes(a.reshape(a_matrix_shape), -1, -2), grad)
            grad_b = reshaped(unbroadcast(grad_b, b_matrix_shape), b_shape)
        return grad_a, grad_b


def matmul(a: Any, b: Any, *, out: Any = None) -> Tensor:
    return written("matmul", MatMul.apply(*operands(a, b)), out)


def _checked(name: str, a: Any, b: Any, dims: tuple[int, int], out: Any) -> Tensor:
    """``matmul`` of operands of exactly ``dims`` dimensions (mm: 2 and 2, bmm: 3 and 3, mv, dot)."""
    for which, tensor, wanted in (("first", a, dims[0]), ("second", b, dims[1])):
        if not isinstance(tensor, Tensor) or tensor.ndim != wanted:
            found = f"{tensor.ndim}-D" if isinstance(tensor, Tensor) else type(tensor).__name__
            raise RuntimeError(f"{name}: the {which} argument must be a {wanted}-D tensor, got {found}")
    if name == "bmm" and a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b, out=out)


def mm(a: Tensor, b: Tensor, *, out: Any = None) -> Tensor:
    """Matrix times matrix (2-D only; ``matmul`` broadcasts)."""
    return _checked("mm", a, b, (2, 2), out)


def bmm(a: Tensor, b: Tensor, *, out: Any = None) -> Tensor:
    """Batches of matrices, (B, n, m) times (B, m, p), no broadcasting."""
    return _checked("bmm", a, b, (3, 3), out)


def mv(a: Tensor, v: Tensor, *, out: Any = None) -> Tensor:
    """Matrix times vector."""
    return _checked("mv", a, v, (2, 1), out)


def dot(a: Tensor, b: Tensor, *, out: Any = None) -> Tensor:
    """The inner product of two vectors."""
    return _checked("dot", a, b, (1, 1), out)


def _rows(a: Any) -> Any:
    """An array or tensor as a matrix of its last dimension: the leading dimensions as one (``math.prod``,
    not -1, so that a last dimension of 0 works too)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


class Linear(Function):
    """y = x W^T + b for x of shape (..., in), W (out, in), b (out,): one GEMM forward, two backward."""

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: np.ndarray, bias: Any) -> np.ndarray:
        if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} does not match the weight of shape {weight.shape}: "
                f"expected the last dimension to be {weight.shape[1]} (in_features)"
            )
        ctx.save_for_backward(x, weight)
        out = dual.matmul(_rows(x), weight.T).reshape(*x.shape[:-1], weight.shape[0])
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any, Any]:
        x, weight = ctx.saved_tensors
        x_needs, w_needs, b_needs = ctx.needs_input_grad
        grad_2d = _rows(grad)
        return (
            reshaped(dual.matmul(grad_2d, weight), x.shape) if x_needs else None,
            dual.matmul(grad_2d.T, _rows(x)) if w_needs else None,
            dual.sum(grad_2d, 0) if b_needs else None,
        )


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    return Linear.apply(x, weight, bias)


def _triangle(name: str, x: Tensor, diagonal: int, lower: bool) -> Tensor:
    if x.ndim < 2:
        raise RuntimeError(f"{name}: the input must have at least 2 dimensions, got shape {tuple(x.shape)}")
    rows, columns = x.shape[-2:]
    kept = np.tri(rows, columns, diagonal, dtype=bool)  # on and below the diagonal-th diagonal
    if not lower:
        kept = ~np.tri(rows, columns, diagonal - 1, dtype=bool)
    return where(kept, x, False if x.dtype == bool else 0)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dimensions (the ``diagonal``-th diagonal and below), zero above."""
    return _triangle("tril", x, diagonal, True)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dimensions (the ``diagonal``-th diagonal and above), zero below."""
    return _triangle("triu", x, diagonal, False)


def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """The ``diagonal``-th diagonal of a matrix as a vector, or a vector as the diagonal of a square matrix
    (zero elsewhere); ``diagonal`` > 0 is above the main one, < 0 below (``torch.diag``)."""
    if x.ndim == 1:
        size = x.shape[0] + abs(diagonal)
        on_diagonal = np.eye(size, size, diagonal, dtype=bool)  # row-major order is the diagonal's order
        return index_put(Tensor(np.zeros((size, size), dtype=x.dtype)), on_diagonal, x)
    if x.ndim != 2:
        raise RuntimeError(f"diag: the input must be a vector or a matrix, got shape {tuple(x.shape)}")
    return getitem(x, np.eye(x.shape[0], x.shape[1], diagonal, dtype=bool))  # a mask: each position read once
