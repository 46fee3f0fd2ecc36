"""Logistic regression: p(y = 1 | x) = sigmoid(w . x + b), trained on the binary cross-entropy.

The two-class case of the softmax classifier, written the way it is usually taught: one weight vector, the
sigmoid sigma(s) = 1 / (1 + e^-s) (whose derivative is sigma(s) (1 - sigma(s))), and the loss
L_i = -[y_i log sigma(s_i) + (1 - y_i) log(1 - sigma(s_i))], whose gradient with respect to the score is
simply sigma(s_i) - y_i. Same regularization and mini-batch SGD as ``LinearClassifier``.

With more than two classes it is one-vs-rest: one sigmoid unit per class, each a binary "this class or not"
classifier, trained together on the sum of their cross-entropies; the prediction is the most confident unit.

scikit-learn's ``LogisticRegression(C=C)`` minimizes C sum_i L_i + ||w||^2 / 2, that is the mean loss plus
||w||^2 / (2 C N): ``reg = 1 / (2 C N)`` with ``reg_type='l2'`` is the same objective.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ember.classic.linear import SGDClassifier


def logistic_loss(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Binary cross-entropy of every sigmoid unit, summed over units and averaged over the batch, and dL/ds.

    ``scores`` is ``(N, 1)`` with ``y`` in {0, 1} (binary), or ``(N, C)`` with ``y`` class indices
    (one-vs-rest: unit c's target is 1 where y = c).
    """
    n, units = scores.shape
    targets = y[:, None].astype(scores.dtype) if units == 1 else np.eye(units, dtype=scores.dtype)[y]
    # log(1 + e^s) - t s, with log(1 + e^s) = max(s, 0) + log(1 + e^-|s|) so that it never overflows
    loss = float(np.sum(np.maximum(scores, 0) + np.log1p(np.exp(-np.abs(scores))) - targets * scores)) / n
    return loss, (sigmoid(scores) - targets) / n


def sigmoid(s: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-s), computed without overflow for large |s|."""
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1 / (1 + e), e / (1 + e))


@dataclass(eq=False, repr=False)
class LogisticRegression(SGDClassifier):
    """Logistic regression (one-vs-rest beyond two classes) trained by mini-batch SGD on the cross-entropy.

    Parameters as ``LinearClassifier`` (``reg``, ``None`` meaning 3e-3, ``reg_type``, ``l1_ratio``, ``lr``,
    ``epochs``, ``batch_size``, ``momentum``, ``lr_decay``, ``standardize``, ``weight_scale``,
    ``random_state``, ``verbose``), with the same defaults. The classes
    may have any labels; with two, ``classes_[1]`` is the positive class and ``coef_`` is ``(1, D)``,
    ``intercept_`` ``(1,)``, as in scikit-learn; with C > 2, ``coef_`` is ``(C, D)``.
    """

    def _n_outputs(self) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _score_loss(self, scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        return logistic_loss(scores, y)

    def decision_function(self, X: Any) -> np.ndarray:
        """w . x + b: ``(N,)`` for two classes (positive: ``classes_[1]``), one column per class otherwise."""
        scores = self._scores(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(N, C)`` class probabilities: (1 - p, p) for two classes, else the units' sigmoids normalized."""
        p = sigmoid(self.decision_function(X))
        if p.ndim == 1:
            return np.stack([1 - p, p], axis=1)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.intp)]
        return self.classes_[scores.argmax(axis=1)]
