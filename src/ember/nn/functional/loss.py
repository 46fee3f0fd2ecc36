"""Classification losses: cross-entropy (softmax + negative log-likelihood, fused), NLL, hinge losses.

Softmax classifier (multinomial logistic regression): the scores are unnormalized log probabilities,
p = e^s / sum e^s, and the loss is the negative log-likelihood of the correct class, L_i = -log p_{y_i}
(maximum likelihood). ``cross_entropy`` does both as ONE ``Function``: log-softmax with the maximum score
subtracted (stable for logits of any size), the loss, and the gradient dL/ds = p - onehot(y), without the
graph of exp, sum, log and gather. Class weights, ``ignore_index``, ``label_smoothing`` and probability
("soft") targets follow PyTorch: every form is L_i = -sum_c t_ic log p_ic for a target row t_i, whose
gradient is (sum_c t_ic) p_i - t_i.

Multiclass SVM loss (Weston and Watkins 1999; the course's hinge loss): L_i = sum_{j != y_i} max(0, s_j -
s_{y_i} + margin), averaged over the batch (``svm_loss``). PyTorch's ``multi_margin_loss`` is the same sum
divided by the number of classes C (and allows p = 2 and class weights).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember import ops
from ember.autograd import Context, Function, Tensor
from ember.nn.functional.reduction import check_reduction, reduce, upstream
from ember.nn.shape_check import InputShapeError, input_shape_error
from ember.ops import dual
from ember.ops.broadcast import reshaped


def _rows(x: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) as (N * d1 * ..., C): classes last, one row per prediction (a copy if d1... exist)."""
    if x.ndim == 2:
        return x
    if x.ndim == 1:
        return x[None, :]
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _unrows(rows: Any, shape: tuple[int, ...]) -> Any:
    if len(shape) <= 2:
        return reshaped(rows, shape)  # (N, C) rows are returned as they are: a leaf keeps them, no copy
    return dual.moveaxis(rows.reshape(shape[0], *shape[2:], shape[1]), -1, 1)


class ClassTargets:
    """Class-index targets checked and laid out as rows: class and weight per row.

    ``weight`` is None when every row counts once (no class weights, nothing ignored): the common case,
    which then needs no multiplications by ones.
    """

    def __init__(
        self,
        name: str,
        shape: tuple[int, ...],
        target: np.ndarray,
        weight: np.ndarray | None,
        ignore_index: int,
        dtype: Any,
    ) -> None:
        self.out_shape = () if len(shape) == 1 else (shape[0], *shape[2:])
        if target.dtype.kind not in "iu":
            raise InputShapeError(
                f"{name}: expected target class indices (an integer array) of shape {self.out_shape}, got "
                f"{target.dtype} values of shape {target.shape}"
            )
        if target.shape != self.out_shape:
            expected = f"class indices of shape {self.out_shape} for input {tuple(shape)}"
            raise input_shape_error(name, expected, target.shape, what="target")
        classes = shape[0] if len(shape) == 1 else shape[1]
        labels = target.reshape(-1)
        self.valid = labels != ignore_index
        self.all_valid = bool(self.valid.all())
        self.classes = labels if self.all_valid else np.where(self.valid, labels, 0)
        if self.classes.size and (self.classes.min() < 0 or self.classes.max() >= classes):
            bad = self.classes[(self.classes < 0) | (self.classes >= classes)][0]
            raise IndexError(f"{name}: target {bad} is out of bounds for {classes} classes")
        self.weight: np.ndarray | None = None
        if weight is not None:
            self.weight = weight.astype(dtype, copy=False)[self.classes]
            if not self.all_valid:
                self.weight *= self.valid
            self.total_weight: Any = self.weight.sum()
        elif not self.all_valid:
            self.weight = self.valid.astype(dtype)
            self.total_weight = int(self.valid.sum())
        else:
            self.total_weight = labels.size
        self.index = (np.arange(labels.size), self.classes)


def _check_class_weight(name: str, input: Tensor, weight: Tensor | None) -> None:
    """A class weight must hold one number per class, as PyTorch requires."""
    classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    if weight is not None and tuple(weight.shape) != (classes,):
        raise input_shape_error(name, f"({classes},) (one per class)", weight.shape, what="weight")


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood over dimension 1 (class indices or probabilities).

    Every form is L_i = t_sum_i * logsumexp(z_i) - sum_c t_ic (z_ic - max_i) ... with t the target row;
    forward keeps e^(z - max) and its row sums, backward is (t_sum p - t) times the upstream gradient.
    """

    @staticmethod
    def composite(
        logits: Tensor, target: Tensor, weight: Any, ignore_index: int, reduction: str, label_smoothing: float
    ) -> Any:
        """The same loss from Ember operations (gradients of gradients, ``ember.autograd.backprop``):
        NLL of log-softmax for class indices, -sum_c t_c log p_c for probabilities."""
        dim = 1 if logits.ndim > 1 else 0
        log_p = ops.log_softmax(logits, dim)
        if target.dtype.kind != "f":
            if label_smoothing > 0:
                return NotImplemented
            return NLL.apply(log_p, target, weight, ignore_index, reduction)
        classes = logits.shape[dim]
        t = target if label_smoothing == 0 else target * (1 - label_smoothing) + label_smoothing / classes
        if weight is not None:
            t = t * weight.reshape((classes,) + (1,) * (logits.ndim - dim - 1))
        loss = -(t * log_p).sum(dim)
        if reduction == "none":
            return loss
        return loss.sum() if reduction == "sum" else loss.sum() / max(loss.numel(), 1)

    @staticmethod
    def forward(
        ctx: Context,
        logits: np.ndarray,
        target: np.ndarray,
        weight: np.ndarray | None,
        ignore_index: int,
        reduction: str,
        label_smoothing: float,
    ) -> np.ndarray:
        z = _rows(logits)
        dtype = z.dtype.type
        classes = z.shape[1]
        shifted = z - z.max(axis=1, keepdims=True)
        class_weight = None if weight is None else weight.astype(z.dtype, copy=False)
        t_sum: Any
        if target.dtype.kind == "f":  # probabilities: t is a full row per prediction
            if target.shape != logits.shape:
                expected = f"probabilities of the input's shape {logits.shape}"
                raise input_shape_error("cross_entropy", expected, target.shape, what="target")
            t = _rows(target).astype(z.dtype, copy=False)
            if label_smoothing > 0:
                t = t * dtype(1 - label_smoothing) + dtype(label_smoothing / classes)
            if class_weight is not None:
                t = t * class_weight
            t_sum, dot = t.sum(axis=1), np.einsum("ij,ij->i", t, shifted)
            rows: Any = t
            denominator: Any = z.shape[0]
            out_shape = logits.shape[:1] + logits.shape[2:] if logits.ndim > 1 else ()
        else:  # class indices: t = (1 - eps) w_y onehot(y) + eps / C w, zero for ignored rows
            targets = ClassTargets("cross_entropy", logits.shape, target, weight, ignore_index, z.dtype)
            hard = targets.weight  # None: every row has weight 1
            if label_smoothing > 0:
                hard = (1 - label_smoothing) * (np.ones(z.shape[0], z.dtype) if hard is None else hard)
            dot = shifted[targets.index]
            t_sum = None  # every row's target sums to 1
            if hard is not None:
                dot *= hard
                t_sum = hard
            smooth_rows = None
            if label_smoothing > 0:
                smooth_rows = dtype(label_smoothing / classes) * targets.valid
                if class_weight is None:
                    class_dot, all_weight = shifted.sum(axis=1), dtype(classes)
                else:
                    class_dot, all_weight = shifted @ class_weight, class_weight.sum()
                dot += smooth_rows * class_dot
                t_sum = (1 if t_sum is None else t_sum) + smooth_rows * all_weight
            rows = (targets.index, hard, smooth_rows)
            denominator, out_shape = targets.total_weight, targets.out_shape
        log_p = shifted.copy() if ctx.needs_input_grad[1] else None  # for soft targets' gradient
        exp = np.exp(shifted, out=shifted)  # shifted is not needed any more
        sum_exp = exp.sum(axis=1)
        loss = np.log(sum_exp)
        if t_sum is not None:
            loss *= t_sum
        loss -= dot
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            if log_p is not None:
                log_p -= np.log(sum_exp)[:, None]
            ctx.save_for_backward(exp, log_p)
            ctx.values = (sum_exp, t_sum, rows, denominator, reduction, label_smoothing, class_weight)
            ctx.shape = logits.shape
        return reduce(loss.reshape(out_shape), reduction, denominator)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, ...]:
        exp, log_p = ctx.saved_tensors
        sum_exp, t_sum, rows, denominator, reduction, smoothing, class_weight = ctx.values
        dtype = exp.dtype.type
        scale = upstream(grad, reduction, exp.shape[0], denominator)  # per row for 'none', else a number
        if reduction == "none":
            scale = scale.reshape(-1)
        grad_logits = grad_target = None
        if ctx.needs_input_grad[0]:
            coefficient = scale / sum_exp if t_sum is None else scale * t_sum / sum_exp
            grad_logits = exp * coefficient[:, None]
            if isinstance(rows, np.ndarray):
                grad_logits -= rows * (scale[:, None] if reduction == "none" else scale)
            else:
                index, hard, smooth_rows = rows
                grad_logits[index] -= scale if hard is None else scale * hard
                if smooth_rows is not None:
                    smooth_scale = (scale * smooth_rows)[:, None]
                    grad_logits -= smooth_scale if class_weight is None else smooth_scale * class_weight
            grad_logits = _unrows(grad_logits, ctx.shape)
        if log_p is not None and ctx.needs_input_grad[1]:  # d/dt of -sum t' log p, t' = ((1-eps) t + eps/C) w
            factor = scale * dtype(1 - smoothing)
            log_p *= -(factor[:, None] if reduction == "none" else factor)
            grad_target = _unrows(log_p if class_weight is None else log_p * class_weight, ctx.shape)
        return grad_logits, grad_target, None, None, None, None


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy of logits (N, C, ...) against class indices (N, ...) or probabilities.

    ``weight`` (C,) rescales each class ('mean' then divides by the total weight of the targets),
    ``ignore_index`` rows contribute nothing, ``label_smoothing`` mixes the target with the uniform one.
    """
    check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.ndim == 0:
        raise input_shape_error("cross_entropy", "logits (N, C, ...) or (C,)", input.shape)
    _check_class_weight("cross_entropy", input, weight)
    return CrossEntropy.apply(input, target, weight, ignore_index, reduction, label_smoothing)


class NLL(Function):
    """L_i = -w_{y_i} x_{i, y_i} for log-probabilities x: picks one entry per row; backward scatters."""

    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(
        ctx: Context, x: np.ndarray, target: np.ndarray, weight: Any, ignore_index: int, reduction: str
    ) -> np.ndarray:
        z = _rows(x)
        targets = ClassTargets("nll_loss", x.shape, target, weight, ignore_index, z.dtype)
        picked = z[targets.index]
        loss = -picked if targets.weight is None else -(targets.weight * picked)
        ctx.values = (targets, reduction, x.shape, z.shape)
        return reduce(loss.reshape(targets.out_shape), reduction, targets.total_weight)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple[Any, ...]:
        targets, reduction, shape, rows_shape = ctx.values
        scale = upstream(grad, reduction, rows_shape[0], targets.total_weight).reshape(-1, 1)
        picked = np.zeros(rows_shape, dtype=grad.dtype)  # -w_y where a row's class is picked
        picked[targets.index] = -1 if targets.weight is None else -targets.weight
        return _unrows(picked * scale, shape), None, None, None, None


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C, ...) (e.g. from ``log_softmax``)."""
    check_reduction("nll_loss", reduction)
    if input.ndim == 0:
        raise input_shape_error("nll_loss", "log-probabilities (N, C, ...) or (C,)", input.shape)
    _check_class_weight("nll_loss", input, weight)
    return NLL.apply(input, target, weight, ignore_index, reduction)


class MultiMargin(Function):
    """Hinge loss sum_{j != y} max(0, margin - s_y + s_j)^p (times w_y), divided by C if ``per_class``."""

    @staticmethod
    def forward(
        ctx: Context,
        scores: np.ndarray,
        target: np.ndarray,
        weight: Any,
        p: int,
        margin: float,
        reduction: str,
        per_class: bool,
    ) -> np.ndarray:
        z = _rows(scores)
        dtype = z.dtype.type
        name = "multi_margin_loss" if per_class else "svm_loss"
        targets = ClassTargets(name, scores.shape[:2], target, None, -(2**62), z.dtype)
        margins = z - z[targets.index][:, None]
        margins += dtype(margin)
        margins[targets.index] = 0  # j = y_i is not a wrong class
        np.maximum(margins, 0, out=margins)
        row_weight = None if weight is None else weight.astype(z.dtype, copy=False)[targets.classes]
        divisor = dtype(z.shape[1] if per_class else 1)
        local = (margins if p == 1 else margins * margins).sum(axis=1)
        loss = local if row_weight is None else local * row_weight
        loss /= divisor
        if ctx.needs_input_grad[0]:
            slope = (margins > 0).astype(z.dtype) if p == 1 else margins * dtype(2)
            slope *= (1 / divisor if row_weight is None else row_weight[:, None] / divisor).astype(z.dtype)
            ctx.save_for_backward(slope)
            ctx.values = (targets.index, reduction, scores.shape)
        return reduce(loss.reshape(targets.out_shape), reduction)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, ...]:
        (slope,) = ctx.saved_tensors
        index, reduction, shape = ctx.values
        scale = upstream(grad, reduction, slope.shape[0])
        grad_scores = slope * (scale.reshape(-1, 1) if reduction == "none" else scale)
        grad_scores[index] = -grad_scores.sum(axis=1)
        return grad_scores.reshape(shape), None, None, None, None, None, None


def _check_margin_input(name: str, input: Tensor) -> None:
    if input.ndim not in (1, 2):
        raise input_shape_error(name, "scores (N, C) or (C,)", input.shape)


def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """PyTorch's multi-class hinge loss: sum_{j != y} max(0, margin - x_y + x_j)^p w_y / C per example."""
    check_reduction("multi_margin_loss", reduction)
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p = 1 and p = 2 are supported, got {p}")
    _check_margin_input("multi_margin_loss", input)
    _check_class_weight("multi_margin_loss", input, weight)
    return MultiMargin.apply(input, target, weight, p, margin, reduction, True)


def svm_loss(scores: Tensor, targets: Tensor, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """The course's multiclass SVM loss: L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin).

    Averaged over the batch by default. It is ``multi_margin_loss`` times the number of classes C.
    """
    check_reduction("svm_loss", reduction)
    _check_margin_input("svm_loss", scores)
    return MultiMargin.apply(scores, targets, None, 1, margin, reduction, False)
