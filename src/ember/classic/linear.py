"""Linear classifiers: scores f(x, W) = W x + b, a loss on the scores, regularization, mini-batch SGD.

The lectures' linear classification. ``W`` has one row per class (``coef_``, shape ``(C, D)``), so each
example's scores are ``s = W x + b`` and the predicted class is the highest score. Two losses:

- multiclass SVM (hinge): L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + 1);
- softmax (cross-entropy, multinomial logistic regression): L_i = -log(e^{s_{y_i}} / sum_j e^{s_j}).

The data loss is the mean of L_i over the batch, plus ``reg * R(W)`` with R(W) = sum W^2 (L2), sum |W| (L1) or
``l1_ratio * sum |W| + (1 - l1_ratio) * sum W^2`` (elastic net); the bias is not regularized. The gradient
is derived by hand and vectorized (no loop over examples or classes): with dL/ds known for every score,
dL/dW = (dL/ds)^T X and dL/db = sum over the batch of dL/ds. ``linear_loss`` returns the loss and both
gradients; the tests check them against numerical gradients and against Ember's autograd.

The defaults are meant to be left alone (measured on MNIST in docs/classic.md): each feature is standardized
inside ``fit`` (the lectures' preprocessing, (x - mu) / sigma: zero-centred data, so that the gradients on W
are not all of one sign), then SGD with momentum 0.9 and a cosine learning-rate schedule ("start with a large
learning rate and decay over time") runs 30 epochs of mini-batches of 200. The regularization strength
depends on the loss: the hinge loss stops pushing once every margin is met and needs more of it (1e-2) than
the softmax loss, which never does (3e-3).

The lectures' "three viewpoints" of a linear classifier: algebraic (a matrix product), visual (each row of W
is a template image of its class, matched to x by a dot product) and geometric (each row is a hyperplane).
``template_images`` renders the rows as images.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ember.classic.base import Classifier, NotFittedError, available_if

LOSSES = ("svm", "softmax")
REGULARIZATIONS = ("l2", "l1", "elastic")
DEFAULT_REG = {"svm": 1e-2, "softmax": 3e-3}  # reg=None: lambda of each loss on standardized features
_STATS_ROWS = 8192  # rows per chunk when computing the standardization: bounds the float64 temporaries


def svm_loss(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Multiclass SVM loss, mean over the batch, and its gradient with respect to the scores.

    Each margin s_j - s_{y_i} + 1 > 0 of a wrong class j adds 1 to dL/ds_j and subtracts 1 from dL/ds_{y_i}.
    """
    n = len(scores)
    rows = np.arange(n)
    margins = scores - scores[rows, y][:, None] + 1
    margins[rows, y] = 0
    np.maximum(margins, 0, out=margins)
    loss = float(margins.sum()) / n
    dscores = (margins > 0).astype(scores.dtype)
    dscores[rows, y] = -dscores.sum(axis=1)
    dscores /= n
    return loss, dscores


def softmax_loss(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy, mean over the batch, and its gradient (probabilities minus one-hot) / N."""
    n = len(scores)
    rows = np.arange(n)
    shifted = scores - scores.max(axis=1, keepdims=True)  # e^s overflows; e^(s - max) cannot
    log_normalizer = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probabilities = shifted - log_normalizer
    loss = -float(log_probabilities[rows, y].sum()) / n
    dscores = np.exp(log_probabilities)
    dscores[rows, y] -= 1
    dscores /= n
    return loss, dscores


SCORE_LOSSES: dict[str, Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]] = {
    "svm": svm_loss,
    "softmax": softmax_loss,
}


def regularization(
    W: np.ndarray, reg: float, reg_type: str = "l2", l1_ratio: float = 0.5
) -> tuple[float, np.ndarray]:
    """``reg * R(W)`` and its gradient (the subgradient sign(W), 0 at 0, for the L1 part)."""
    _check_regularization(reg_type)
    l1 = {"l2": 0.0, "l1": 1.0, "elastic": l1_ratio}[reg_type]
    penalty, gradient = 0.0, np.zeros_like(W)
    if l1 != 1.0:
        penalty += (1 - l1) * float(np.sum(W * W))
        gradient += (2 * (1 - l1)) * W
    if l1 != 0.0:
        penalty += l1 * float(np.sum(np.abs(W)))
        gradient += l1 * np.sign(W)
    return reg * penalty, reg * gradient


def _check_regularization(reg_type: str) -> None:
    if reg_type not in REGULARIZATIONS:
        raise ValueError(f"reg_type must be one of {REGULARIZATIONS}, got {reg_type!r}")


def linear_loss(
    W: np.ndarray,
    b: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    loss: str = "softmax",
    reg: float = 0.0,
    reg_type: str = "l2",
    l1_ratio: float = 0.5,
) -> tuple[float, np.ndarray, np.ndarray]:
    """The full loss of scores ``X W^T + b`` on labels ``y`` (class indices), with ``dL/dW`` and ``dL/db``.

    ``W`` is ``(C, D)``, ``b`` is ``(C,)``, ``X`` is ``(N, D)``. Computed in the arrays' own dtype (float32 in
    training, float64 for gradient checks).
    """
    return _objective(score_loss(loss), W, b, X, y, reg, reg_type, l1_ratio)


def score_loss(loss: str) -> Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]:
    """The loss on scores named ``loss`` (``'svm'`` or ``'softmax'``)."""
    if loss not in SCORE_LOSSES:
        raise ValueError(f"LinearClassifier: loss must be one of {LOSSES}, got {loss!r}")
    return SCORE_LOSSES[loss]


def _objective(
    data_loss: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]],
    W: np.ndarray,
    b: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    reg: float,
    reg_type: str,
    l1_ratio: float,
) -> tuple[float, np.ndarray, np.ndarray]:
    value, dscores = data_loss(X @ W.T + b, y)
    penalty, dpenalty = regularization(W, reg, reg_type, l1_ratio)
    return value + penalty, dscores.T @ X + dpenalty, dscores.sum(axis=0)


@dataclass(eq=False, repr=False)
class SGDClassifier(Classifier):
    """Scores W x + b trained by mini-batch SGD with momentum and a decaying learning rate.

    The hyperparameters are declared once, as dataclass fields: the generated ``__init__`` only stores them,
    which is exactly scikit-learn's contract, and subclasses share them without restating them.
    Subclasses choose the loss on the scores (``_score_loss``), how many rows W has (``_n_outputs``) and the
    default regularization strength (``_default_reg``).
    Fitted attributes: ``coef_`` (rows of W, for the features as given), ``intercept_`` (b), ``mean_`` and
    ``scale_`` (the standardization: zeros and ones without it), ``classes_``, ``loss_history_`` (the loss of
    every mini-batch), ``n_iter_`` (epochs run), ``n_features_in_``, ``input_shape_``.
    """

    reg: float | None = None
    reg_type: str = "l2"
    l1_ratio: float = 0.5
    lr: float = 0.03
    epochs: int = 30
    batch_size: int | None = 200
    momentum: float = 0.9
    lr_decay: float | str = "cosine"
    standardize: bool = True
    weight_scale: float = 1e-3
    random_state: Any = None
    verbose: bool = False

    def _score_loss(self, scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _default_reg(self) -> float:
        return DEFAULT_REG["softmax"]

    def _reg(self) -> float:
        """The regularization strength in use: ``reg``, or the loss's default when it is None."""
        return self._default_reg() if self.reg is None else self.reg

    def loss_and_gradients(self, X: Any, y: Any) -> tuple[float, np.ndarray, np.ndarray]:
        """The regularized loss of the fitted weights on ``(X, y)``, with dL/dW and dL/db.

        ``coef_`` and ``X`` as given: the features are not standardized and the penalty is on ``coef_``.
        """
        X = self._predict_inputs(X)
        y = np.asarray(y)
        y_index = np.minimum(np.searchsorted(self.classes_, y), len(self.classes_) - 1)
        if not np.array_equal(self.classes_[y_index], y):
            raise ValueError(
                f"{type(self).__name__}: y holds labels not seen in fit (classes_ {self.classes_})"
            )
        return self._loss_and_gradients(self.coef_, self.intercept_, X, y_index)

    def _loss_and_gradients(
        self, W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        return _objective(self._score_loss, W, b, X, y, self._reg(), self.reg_type, self.l1_ratio)

    def fit(self, X: Any, y: Any) -> SGDClassifier:
        """Train from small random weights by mini-batch SGD over ``epochs`` shuffled passes."""
        X, y_index = self._fit_inputs(X, y)
        self._require_classes()
        self._check_hyperparameters()
        rng = np.random.default_rng(self.random_state)
        mean, scale = standardization(X) if self.standardize else (np.zeros(X.shape[1]), np.ones(X.shape[1]))
        if self.standardize:
            X = (X - mean.astype(np.float32)) / scale.astype(np.float32)
        n, features = X.shape
        W = (self.weight_scale * rng.standard_normal((self._n_outputs(), features))).astype(np.float32)
        b = np.zeros(self._n_outputs(), dtype=np.float32)
        batch = n if self.batch_size is None else min(self.batch_size, n)
        history: list[float] = []
        with _one_blas_thread() if self.batch_size is not None else contextlib.nullcontext():
            self._descend(X, y_index, W, b, rng, batch, history)
        # Scores of standardized features, W (x - mean) / scale + b, are those of the features as given
        # with weights W / scale and bias b - (W / scale) . mean.
        coef = W / scale
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = (b - coef @ mean).astype(np.float32)
        self.mean_, self.scale_ = mean, scale
        self.loss_history_ = np.array(history)
        self.n_iter_ = self.epochs
        return self

    def _descend(
        self,
        X: np.ndarray,
        y_index: np.ndarray,
        W: np.ndarray,
        b: np.ndarray,
        rng: np.random.Generator,
        batch: int,
        history: list[float],
    ) -> None:
        """The epochs of mini-batch SGD with momentum, updating ``W`` and ``b`` in place."""
        n = len(X)
        velocity_W, velocity_b = np.zeros_like(W), np.zeros_like(b)
        steps_per_epoch = math.ceil(n / batch)
        for epoch in range(self.epochs):
            order = rng.permutation(n)
            for step, start in enumerate(range(0, n, batch), start=epoch * steps_per_epoch):
                rows = order[start : start + batch]
                with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported just below
                    loss, dW, db = self._loss_and_gradients(W, b, X[rows], y_index[rows])
                if not np.isfinite(loss):
                    raise FloatingPointError(
                        f"{type(self).__name__}.fit: the loss became {loss} in epoch {epoch + 1}: training "
                        f"diverged; lower lr (now {self.lr})"
                        + ("" if self.standardize else " or scale the inputs (standardize=True)")
                    )
                history.append(loss)
                lr = self._learning_rate(epoch, step, self.epochs * steps_per_epoch)
                # v <- rho v - lr g; w <- w + v (plain SGD when rho = 0)
                velocity_W *= self.momentum
                velocity_W -= lr * dW
                velocity_b *= self.momentum
                velocity_b -= lr * db
                W += velocity_W
                b += velocity_b
            if self.verbose:
                print(f"epoch {epoch + 1}/{self.epochs}: loss {np.mean(history[-steps_per_epoch:]):.4f}")

    def _learning_rate(self, epoch: int, step: int, steps: int) -> float:
        """This step's rate: from ``lr`` towards 0 along a half cosine, or ``lr * lr_decay ** epoch``."""
        if self.lr_decay == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        return self.lr * float(self.lr_decay) ** epoch

    def _check_hyperparameters(self) -> None:
        _check_regularization(self.reg_type)
        owner = type(self).__name__
        if self.lr_decay != "cosine" and not (
            isinstance(self.lr_decay, int | float)
            and not isinstance(self.lr_decay, bool)
            and self.lr_decay > 0
        ):
            raise ValueError(
                f"{owner}: lr_decay must be 'cosine' or a positive number, got {self.lr_decay!r}"
            )
        if not isinstance(self.epochs, int | np.integer) or self.epochs < 1:
            raise ValueError(f"{owner}: epochs must be a positive integer, got {self.epochs!r}")

    def _scores(self, X: Any) -> np.ndarray:
        """The scores X W^T + b, one column per row of ``coef_``, as float32.

        Summed in float64: a float32 matrix product adds in an order that depends on the matrix shape and the
        processor's BLAS kernel, so a row's scores would change in the last bits with the batch it comes in.
        """
        X = self._predict_inputs(X, dtype=np.float64)
        return (X @ self.coef_.T.astype(np.float64) + self.intercept_).astype(np.float32)


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS on one thread (with ``threadpoolctl``): a mini-batch's products are too small to share, and a
    multi-threaded BLAS synchronizes its threads at every call, which on a busy machine made ``fit`` 16 times
    slower (docs/classic.md)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def standardization(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's mean and standard deviation over the rows of ``X``, in float64.

    A feature that does not vary gets the scale 1 (it is only centred), as in scikit-learn's
    ``StandardScaler``. Computed in chunks of rows, so that no float64 copy of ``X`` is made.
    """
    total = np.zeros(X.shape[1])
    for start in range(0, len(X), _STATS_ROWS):
        total += X[start : start + _STATS_ROWS].sum(axis=0, dtype=np.float64)
    mean = total / len(X)
    squares = np.zeros(X.shape[1])
    for start in range(0, len(X), _STATS_ROWS):
        squares += np.square(X[start : start + _STATS_ROWS] - mean).sum(axis=0)
    std = np.sqrt(squares / len(X))
    return mean, np.where(std > 1e-7 * np.abs(mean), std, 1.0)


def _has_softmax(estimator: LinearClassifier) -> bool:
    return estimator.loss == "softmax"


@dataclass(eq=False, repr=False)
class _LossChoice:
    loss: str = "softmax"


@dataclass(eq=False, repr=False)
class LinearClassifier(SGDClassifier, _LossChoice):  # this order of bases puts ``loss`` first in __init__
    """Linear classifier with the multiclass SVM or softmax loss, trained by mini-batch SGD.

    Parameters: ``loss`` (``'svm'`` or ``'softmax'``); ``reg`` (lambda; ``None``: 1e-2 for the SVM, 3e-3 for
    softmax), ``reg_type`` (``'l2'``, ``'l1'``, ``'elastic'``) and ``l1_ratio`` (the elastic net's L1 share);
    ``lr`` (learning rate), ``epochs``, ``batch_size`` (``None``: full batch), ``momentum``, ``lr_decay``
    (``'cosine'``: from ``lr`` towards 0 along half a cosine over all steps; a number: the rate is multiplied
    by it after each epoch); ``standardize`` (centre each feature on its training mean and divide it by its
    standard deviation before training; ``reg`` then applies to the weights of the standardized features);
    ``weight_scale`` (initial W ~ weight_scale * N(0, 1)), ``random_state`` (seed of the initial weights and
    of the shuffling), ``verbose``.

    With the defaults, inputs need no preprocessing (pixels 0..255 or 0..1 alike). ``coef_`` and
    ``intercept_`` apply to the features as given. ``predict_proba`` exists only with the softmax loss, whose
    scores are log-probabilities; SVM scores are not calibrated.
    """

    def _score_loss(self, scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        return score_loss(self.loss)(scores, y)

    def _default_reg(self) -> float:
        score_loss(self.loss)  # a clear error for an unknown loss
        return DEFAULT_REG[self.loss]

    def decision_function(self, X: Any) -> np.ndarray:
        """Class scores X W^T + b, ``(N, C)``; for two classes ``s_1 - s_0``, ``(N,)``, as scikit-learn."""
        scores = self._scores(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X: Any) -> np.ndarray:
        """The class with the highest score."""
        scores = self._scores(X)
        return self.classes_[scores.argmax(axis=1)]

    @available_if(_has_softmax)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of the scores: the model's class probabilities, columns in the order of ``classes_``."""
        scores = self._scores(X)
        probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def templates(self, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """The rows of W reshaped to images, ``(C, *shape)``; ``shape`` defaults to the examples' own.

        These are the weights the classifier matches against the standardized image, ``coef_ * scale_``
        (``coef_`` itself without standardization): ``coef_`` divides them by each pixel's spread, which
        makes the rarely inked border pixels, whose spread is tiny, outshine the rest.
        """
        if not hasattr(self, "coef_"):
            raise NotFittedError("This LinearClassifier instance is not fitted yet; call fit(X, y) first")
        weights = (self.coef_ * self.scale_).astype(np.float32)
        return weights.reshape(len(weights), *(shape or self.input_shape_))

    def template_images(self, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """Each class template scaled to 0..255 uint8, ``(C, H, W)``, or ``(C, H, W, 3)`` for colour (HWC).

        Each template is stretched between its own minimum and maximum, so that every class is visible.
        """
        templates = self.templates(shape)
        if templates.ndim == 4 and templates.shape[1] in (1, 3):  # NCHW weights, HWC images
            templates = templates.transpose(0, 2, 3, 1).squeeze(-1 if templates.shape[1] == 1 else ())
        axes = tuple(range(1, templates.ndim))
        low = templates.min(axis=axes, keepdims=True)
        span = np.maximum(templates.max(axis=axes, keepdims=True) - low, 1e-12)
        return np.round(255 * (templates - low) / span).astype(np.uint8)
