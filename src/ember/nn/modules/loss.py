"""Loss functions as modules: they quantify our unhappiness with the scores (the course's data loss).

``criterion = nn.CrossEntropyLoss(); loss = criterion(scores, labels)``. Each holds its options and calls
the functional form; class weights are registered as buffers (``weight``, ``pos_weight``), as in PyTorch,
so they appear in the state dict.
"""

from __future__ import annotations

from typing import Any

from ember.autograd import Tensor
from ember.nn.functional import loss as classification
from ember.nn.functional import pointwise_loss as pointwise
from ember.nn.functional.reduction import check_reduction
from ember.nn.module import Module


class _Loss(Module):
    """Options after the first ones are keyword-only where PyTorch keeps its deprecated ``size_average``
    and ``reduce`` in those positions: a positional call that means something else there fails here."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(type(self).__name__, reduction)


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.register_buffer("weight", _as_tensor(weight))


def _as_tensor(value: Any) -> Tensor | None:
    return value if value is None or isinstance(value, Tensor) else Tensor(value)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax + negative log-likelihood of the correct class, fused: logits (N, C, ...), labels (N, ...)."""

    def __init__(
        self,
        weight: Tensor | None = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, reduction=reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return classification.cross_entropy(
            input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing
        )


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (e.g. after ``LogSoftmax``)."""

    def __init__(self, weight: Tensor | None = None, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(weight, reduction=reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return classification.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """PyTorch's multi-class hinge loss: sum_{j != y} max(0, margin - x_y + x_j)^p w_y / C."""

    def __init__(
        self, p: int = 1, margin: float = 1.0, weight: Tensor | None = None, *, reduction: str = "mean"
    ) -> None:
        super().__init__(weight, reduction=reduction)
        self.p, self.margin = p, margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return classification.multi_margin_loss(
            input, target, self.p, self.margin, self.weight, self.reduction
        )


class SVMLoss(_Loss):
    """The course's multiclass SVM loss: sum_{j != y_i} max(0, s_j - s_{y_i} + margin), batch mean."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.margin = margin

    def forward(self, scores: Tensor, targets: Tensor) -> Tensor:
        return classification.svm_loss(scores, targets, self.margin, self.reduction)


class MSELoss(_Loss):
    """(x - y)^2 per element."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return pointwise.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """|x - y| per element."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return pointwise.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """0.5 (x - y)^2 / beta where |x - y| < beta, |x - y| - 0.5 beta elsewhere."""

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return pointwise.smooth_l1_loss(input, target, self.reduction, self.beta)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (e.g. after ``Sigmoid``); logs clamped at -100."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return pointwise.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy, fused and stable; ``pos_weight`` weighs positives (per class)."""

    def __init__(
        self, weight: Tensor | None = None, *, reduction: str = "mean", pos_weight: Tensor | None = None
    ) -> None:
        super().__init__(reduction=reduction)
        self.register_buffer("weight", _as_tensor(weight))
        self.register_buffer("pos_weight", _as_tensor(pos_weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return pointwise.binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, self.pos_weight
        )
