"""The perceptron (Rosenblatt, 1958): a linear classifier that learns only from its mistakes.

The lectures' rule, for labels y in {-1, +1} and the classification rule sign(w . x + b): visit the
examples one by one; whenever y_i (w . x_i + b) <= 0, set w <- w + y_i x_i and b <- b + y_i; repeat until an
epoch makes no mistake. If the classes are linearly separable with margin gamma (some unit vector u has
y_i u . (x_i, 1) >= gamma) and every ||(x_i, 1)|| <= R, it converges after at most (R / gamma)^2 mistakes
(Novikoff, 1962); otherwise it never stops by itself, hence ``max_epochs``.

With more than two classes it keeps one weight vector per class and predicts the highest score; a mistake
(predicted p instead of y) moves w_y towards x and w_p away from it (the multiclass perceptron, Collins 2002).

The rule is sequential by nature (each update changes the next prediction), so the loop over examples is the
algorithm itself; each step is a single dot product.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.classic.base import Classifier


class Perceptron(Classifier):
    """Perceptron: mistake-driven updates w <- w + lr y x, until an epoch without mistakes.

    Parameters: ``max_epochs`` (passes over the data at most), ``lr`` (step; 1 is the classic rule, and on
    zero-initialized weights any step gives the same predictions), ``shuffle`` (visit the examples in a new
    random order each epoch), ``random_state``.
    Fitted attributes: ``coef_`` ((1, D) for two classes, (C, D) otherwise), ``intercept_``, ``classes_``,
    ``n_iter_`` (epochs run), ``mistakes_`` (updates made in each epoch), ``converged_`` (an epoch had none).
    """

    def __init__(
        self, max_epochs: int = 100, lr: float = 1.0, shuffle: bool = False, random_state: Any = None
    ) -> None:
        self.max_epochs = max_epochs
        self.lr = lr
        self.shuffle = shuffle
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> Perceptron:
        X, y_index = self._fit_inputs(X, y, dtype=np.float64)
        self._require_classes()
        binary = len(self.classes_) == 2
        # Bias as an extra input fixed at 1: x -> (x, 1), so that b is learned by the same rule.
        inputs = np.concatenate([X, np.ones((len(X), 1))], axis=1)
        weights = np.zeros((1 if binary else len(self.classes_), inputs.shape[1]))
        signs = 2.0 * y_index - 1  # {0, 1} -> {-1, +1}
        rng = np.random.default_rng(self.random_state)
        self.mistakes_ = []
        self.converged_ = False
        for _ in range(self.max_epochs):
            order = rng.permutation(len(X)) if self.shuffle else range(len(X))
            mistakes = 0
            for i in order:
                x = inputs[i]
                if binary:
                    if signs[i] * (weights[0] @ x) <= 0:
                        weights[0] += (self.lr * signs[i]) * x
                        mistakes += 1
                    continue
                predicted = int(np.argmax(weights @ x))
                if predicted != y_index[i]:
                    weights[y_index[i]] += self.lr * x
                    weights[predicted] -= self.lr * x
                    mistakes += 1
            self.mistakes_.append(mistakes)
            if mistakes == 0:
                self.converged_ = True
                break
        self.n_iter_ = len(self.mistakes_)
        # float64: the updates add up exactly what the convergence argument counts, and rounding the weights
        # to float32 could flip an example that the last epoch classified with a tiny margin.
        self.coef_, self.intercept_ = weights[:, :-1], weights[:, -1]
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """w . x + b: ``(N,)`` for two classes (positive means ``classes_[1]``), ``(N, C)`` otherwise."""
        X = self._predict_inputs(X, dtype=np.float64)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X: Any) -> np.ndarray:
        """sign(w . x + b) for two classes (0 counts as the first class); the highest score otherwise."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.intp)]
        return self.classes_[scores.argmax(axis=1)]
