"""Losses computed element by element: MSE, L1, smooth L1, binary cross-entropy (on probabilities or logits).

Each subclass of ``PointwiseLoss`` gives, next to each other, the per-element loss and its local derivatives
with respect to the prediction and the target; the shared backward multiplies them by the upstream gradient
and undoes broadcasting, and the reduction ('mean' | 'sum' | 'none') is shared too. Binary cross-entropy on
probabilities clamps its logarithms at -100 (PyTorch's choice: a confident wrong prediction gives a large
finite loss, not infinity). ``binary_cross_entropy_with_logits`` fuses the sigmoid and is stable for logits of
any size: log(1 + e^-x) = max(-x, 0) + log(e^-max(-x, 0) + e^(-x - max(-x, 0))).

Shapes follow PyTorch: a target whose shape differs from the input's broadcasts in the regression losses,
with a warning (predictions (4, 1) against targets (4,) make a 4 x 4 loss, which is rarely what was meant),
and is refused by the binary cross-entropies; a weight (or ``pos_weight``) must broadcast to the input's
shape without enlarging it. A Python number as the target is a constant, not a shape mistake.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor
from ember.nn.functional.reduction import check_reduction, reduce, upstream
from ember.nn.shape_check import input_shape_error
from ember.ops import dual
from ember.ops.broadcast import broadcast_shapes, shape_of, unbroadcast

Local = np.ndarray | None


class PointwiseLoss(Function):
    """forward: ``evaluate(x, t, needs, *options)`` -> (loss, dloss/dx or None, dloss/dt or None)."""

    evaluates_tensors = False  # whether ``evaluate`` also runs on tensors (then it gives the composite)

    @classmethod
    def composite(cls, x: Any, t: Any, reduction: str, *options: Any) -> Any:
        """The loss from Ember operations, for gradients of gradients (``ember.autograd.backprop``)."""
        if not cls.evaluates_tensors:
            return NotImplemented
        return reduce(cls.evaluate(x, t, (False, False), *options)[0], reduction)

    @staticmethod
    def evaluate(x: np.ndarray, t: np.ndarray, needs: tuple[bool, bool], *options: Any) -> tuple[Any, ...]:
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx: Context, x: np.ndarray, t: Any, reduction: str, *options: Any) -> np.ndarray:
        needs = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        loss, local_x, local_t = cls.evaluate(x, np.asarray(t, dtype=x.dtype), needs, *options)
        if needs[0] or needs[1]:
            ctx.save_for_backward(local_x if needs[0] else None, local_t if needs[1] else None)
            ctx.values = (reduction, loss.size, x.shape, shape_of(t))
        return reduce(loss, reduction)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any]:
        local_x, local_t = ctx.saved_tensors
        reduction, size, x_shape, t_shape = ctx.values
        scale = upstream(grad, reduction, size)
        return (
            None if local_x is None else unbroadcast(local_x * scale, x_shape),
            None if local_t is None else unbroadcast(local_t * scale, t_shape),
        )


class MSE(PointwiseLoss):
    """(x - t)^2; d/dx = 2 (x - t)."""

    evaluates_tensors = True

    @staticmethod
    def evaluate(x: np.ndarray, t: np.ndarray, needs: tuple[bool, bool]) -> tuple[Any, ...]:
        diff = x - t
        local = diff * x.dtype.type(2) if any(needs) else None
        return diff * diff, local, None if local is None else -local


class L1(PointwiseLoss):
    """|x - t|; d/dx = sign(x - t)."""

    evaluates_tensors = True

    @staticmethod
    def evaluate(x: np.ndarray, t: np.ndarray, needs: tuple[bool, bool]) -> tuple[Any, ...]:
        diff = x - t
        local = dual.sign(diff) if any(needs) else None
        return abs(diff), local, None if local is None else -local


class SmoothL1(PointwiseLoss):
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = x - t); beta = 0 is L1."""

    @staticmethod
    def evaluate(x: np.ndarray, t: np.ndarray, needs: tuple[bool, bool], beta: float) -> tuple[Any, ...]:
        dtype = x.dtype.type
        diff = x - t
        size = np.abs(diff)
        if beta == 0:
            loss, local = size, np.sign(diff)
        else:
            inside = size < beta
            loss = np.where(inside, dtype(0.5 / beta) * diff * diff, size - dtype(0.5 * beta))
            local = np.where(inside, diff / dtype(beta), np.sign(diff)) if any(needs) else None
        return loss, local, None if local is None else -local


class BinaryCrossEntropy(PointwiseLoss):
    """-w (t log x + (1 - t) log(1 - x)), logs clamped at -100; d/dx = w (x - t) / max(x (1 - x), 1e-12)."""

    @staticmethod
    def evaluate(x: np.ndarray, t: np.ndarray, needs: tuple[bool, bool], weight: Any) -> tuple[Any, ...]:
        dtype = x.dtype.type
        if x.size and (x.min() < 0 or x.max() > 1):
            raise ValueError("binary_cross_entropy: all elements of input should be between 0 and 1")
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), dtype(-100))
            log_1mx = np.maximum(np.log1p(-x), dtype(-100))
        loss = -(t * log_x + (1 - t) * log_1mx)
        local_x = local_t = None
        if needs[0]:
            local_x = (x - t) / np.maximum(x * (1 - x), dtype(1e-12))
        if needs[1]:
            local_t = log_1mx - log_x
        if weight is not None:
            loss, local_x, local_t = (None if a is None else a * weight for a in (loss, local_x, local_t))
        return loss, local_x, local_t


class BinaryCrossEntropyWithLogits(PointwiseLoss):
    """w [(1 - t) x + (1 + (pw - 1) t) log(1 + e^-x)]; d/dx = w [(1 - t) - (1 + (pw - 1) t) sigmoid(-x)]."""

    @staticmethod
    def evaluate(
        x: np.ndarray, t: np.ndarray, needs: tuple[bool, bool], weight: Any, pos_weight: Any
    ) -> tuple[Any, ...]:
        dtype = x.dtype.type
        clipped = np.maximum(-x, dtype(0))
        softplus_neg = clipped + np.log(np.exp(-clipped) + np.exp(-x - clipped))  # log(1 + e^-x)
        log_weight = 1 if pos_weight is None else (pos_weight - 1) * t + 1
        loss = (1 - t) * x + log_weight * softplus_neg
        local_x = local_t = None
        if needs[0]:
            sigmoid_neg = np.exp(-x - softplus_neg)  # sigmoid(-x) = e^-x / (1 + e^-x)
            local_x = (1 - t) - log_weight * sigmoid_neg
        if needs[1]:
            local_t = -x if pos_weight is None else (pos_weight - 1) * softplus_neg - x
        if weight is not None:
            loss, local_x, local_t = (None if a is None else a * weight for a in (loss, local_x, local_t))
        return loss, local_x, local_t


def _pointwise(
    function: type[PointwiseLoss],
    name: str,
    input: Tensor,
    target: Any,
    reduction: str,
    *options: Any,
    same_shape: bool = False,
) -> Tensor:
    """Check the reduction and the target's shape (refused unless equal if ``same_shape``), then apply."""
    check_reduction(name, reduction)
    if not isinstance(target, int | float):  # a Python number is a constant
        shape = np.shape(getattr(target, "array", target))
        if shape != input.shape and same_shape:
            raise input_shape_error(name, f"of the input's shape {tuple(input.shape)}", shape, what="target")
        broadcast = broadcast_shapes(name, input.shape, shape)
        if shape != input.shape:  # PyTorch's warning
            warnings.warn(
                f"{name}: target size {shape} is different to the input size {tuple(input.shape)}; they "
                f"broadcast to {broadcast}, which is likely not what you mean. Make the shapes equal, e.g. "
                "target.reshape(input.shape)",
                UserWarning,
                stacklevel=3,
            )
    return function.apply(input, target, reduction, *options)


def _array(name: str, what: str, value: Any, like: Tensor) -> Any:
    """A weight as an array of the input's type (an option, not an input: it gets no gradient), whose shape
    broadcasts to the input's without enlarging it."""
    if value is None:
        return None
    array = np.asarray(getattr(value, "array", value), dtype=like.dtype)
    try:
        fits = np.broadcast_shapes(like.shape, array.shape) == like.shape
    except ValueError:
        fits = False
    if not fits:
        expected = f"a shape that broadcasts to the input's {tuple(like.shape)}"
        raise input_shape_error(name, expected, array.shape, what=what)
    return array


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error (squared L2 norm of the difference)."""
    return _pointwise(MSE, "mse_loss", input, target, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error."""
    return _pointwise(L1, "l1_loss", input, target, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Quadratic below ``beta``, linear above: less sensitive to outliers than MSE (Fast R-CNN)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    return _pointwise(SmoothL1, "smooth_l1_loss", input, target, reduction, beta)


def binary_cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against targets in [0, 1]."""
    name = "binary_cross_entropy"
    weight = _array(name, "weight", weight, input)
    return _pointwise(BinaryCrossEntropy, name, input, target, reduction, weight, same_shape=True)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable step; ``pos_weight`` weighs the positive examples."""
    name = "binary_cross_entropy_with_logits"
    weights = _array(name, "weight", weight, input), _array(name, "pos_weight", pos_weight, input)
    return _pointwise(BinaryCrossEntropyWithLogits, name, input, target, reduction, *weights, same_shape=True)
