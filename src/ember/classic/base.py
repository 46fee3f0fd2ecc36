"""The estimator contract shared by the classic classifiers, after scikit-learn's conventions.

scikit-learn's model selection tools (``clone``, ``cross_val_score``, ``GridSearchCV``, ``Pipeline``) rely
on a small contract rather than on inheritance: ``__init__`` only stores its arguments, under the same names;
``get_params`` / ``set_params`` find the hyperparameters by reading ``__init__``'s signature; everything
learned from data is set by ``fit`` in attributes whose names end in ``_``; ``fit`` returns ``self``.
``Classifier`` implements that contract with NumPy alone, so ``ember.classic`` needs no scikit-learn, yet its
estimators drop into scikit-learn's tools (``__sklearn_tags__`` imports scikit-learn only when it asks).

Inputs follow scikit-learn's shapes, with one convenience for images: ``X`` of shape ``(N, ...)`` (for example
``(N, 28, 28)`` or ``(N, C, H, W)``) is flattened to ``(N, D)``, and the per-example shape is remembered in
``input_shape_`` so that learned weights can be shown as images again.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (a ValueError and an AttributeError, as in scikit-learn)."""


class available_if:
    """A method that exists only when ``check(self)`` is true, so that ``hasattr`` tells the truth.

    scikit-learn decides what a classifier can do by ``hasattr(estimator, "predict_proba")``; a method that
    exists but always raises would make soft voting or log-loss scoring fail late instead of being skipped.
    """

    def __init__(self, check: Callable[[Any], bool]) -> None:
        self.check = check

    def __call__(self, method: Callable[..., Any]) -> available_if:
        self.method = method
        self.__doc__ = method.__doc__
        return self

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        if not self.check(instance):
            raise AttributeError(f"{type(instance).__name__} has no {self.name} with these settings")
        return self.method.__get__(instance, owner)


class Classifier:
    """Base class of the classic classifiers: parameters, validation, ``score`` and scikit-learn's tags."""

    _estimator_type = "classifier"  # read by scikit-learn before version 1.6
    _multi_class = True  # more than two classes

    @classmethod
    def _get_param_names(cls) -> list[str]:
        parameters = inspect.signature(cls.__init__).parameters.values()
        names = []
        for parameter in parameters:
            if parameter.name == "self" or parameter.kind == parameter.VAR_KEYWORD:
                continue
            if parameter.kind == parameter.VAR_POSITIONAL:
                raise TypeError(f"{cls.__name__}.__init__ must name every parameter (no *args)")
            names.append(parameter.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyperparameters, by ``__init__``'s argument names (nested ``name__key`` when ``deep``)."""
        params: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{name}__{key}", v) for key, v in value.get_params().items())
            params[name] = value
        return params

    def set_params(self, **params: Any) -> Classifier:
        """Set hyperparameters by name (``name__key`` reaches into a nested estimator); returns ``self``."""
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub_key = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__}.set_params: invalid parameter {name!r}; valid parameters are "
                    f"{sorted(self._get_param_names())}"
                )
            if sub_key:
                nested.setdefault(name, {})[sub_key] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params(deep=False).items()
            if not _same(value, defaults.get(name, inspect.Parameter.empty))
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        # Only scikit-learn calls this, so scikit-learn is importable here; Ember itself never needs it.
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=self._multi_class),
            input_tags=InputTags(three_d_array=True),
        )

    def predict(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``predict(X)`` against ``y`` (weighted by ``sample_weight`` if given)."""
        return float(np.average(self.predict(X) == np.asarray(y), weights=sample_weight))

    # -- validation shared by fit and predict ---------------------------------------------------------------

    def _fit_inputs(self, X: Any, y: Any, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
        """2-D ``X`` and ``y`` as class indices; sets ``classes_``, ``n_features_in_``, ``input_shape_``."""
        owner = type(self).__name__
        if y is None:
            raise ValueError(f"{owner} requires y to be passed, but the target y is None")
        array = _as_array(X, owner)
        X = as_examples(array, owner, dtype)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"{owner}.fit: y must be 1-D (one label per example), got shape {y.shape}")
        if len(y) != len(X):
            raise ValueError(f"{owner}.fit: X has {len(X)} examples but y has {len(y)} labels")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError(f"{owner}.fit: y contains NaN or infinity")
        if y.dtype.kind == "f" and not np.all(y == np.round(y)):
            raise ValueError(f"{owner}.fit: Unknown label type: continuous; a classifier needs class labels")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self.n_features_in_ = X.shape[1]
        self.input_shape_ = tuple(array.shape[1:])
        return X, y_index.reshape(-1)

    def _require_classes(self, minimum: int = 2) -> None:
        if len(self.classes_) < minimum:
            raise ValueError(
                f"{type(self).__name__}.fit: needs examples of at least {minimum} classes, got "
                f"{len(self.classes_)} class ({self.classes_[0]!r})"
            )

    def _predict_inputs(self, X: Any, dtype: Any = np.float32) -> np.ndarray:
        owner = type(self).__name__
        if not hasattr(self, "classes_"):
            raise NotFittedError(f"This {owner} instance is not fitted yet; call fit(X, y) before using it")
        X = as_examples(X, owner, dtype)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {owner} is expecting {self.n_features_in_} features as "
                "input"
            )
        return X


def as_examples(X: Any, owner: str, dtype: Any = np.float32) -> np.ndarray:
    """``X`` as an ``(N, D)`` array of finite numbers: images ``(N, ...)`` are flattened, ``dtype`` applied.

    ``dtype=None`` keeps the array's own numeric type (the nearest-neighbour search keeps uint8 images and
    float64 data as they are).
    """
    array = _as_array(X, owner)
    if array.ndim < 2:
        raise ValueError(
            f"{owner}: expected a 2-D array of examples (N, D) or a batch of images (N, ...), got shape "
            f"{array.shape}. Reshape your data: x.reshape(1, -1) for a single example"
        )
    if array.shape[0] == 0:
        raise ValueError(
            f"{owner}: found array with 0 sample(s) (shape={array.shape}) while a minimum of 1 is required."
        )
    if array[0].size == 0:
        raise ValueError(
            f"{owner}: found array with 0 feature(s) (shape={array.shape}) while a minimum of 1 is required."
        )
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"{owner}: X contains NaN or infinity")
    return array.reshape(array.shape[0], -1)


def _as_array(X: Any, owner: str) -> np.ndarray:
    """A NumPy array of real numbers (bool, integer or float), or a clear error."""
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError(f"{owner}: sparse input is not supported; pass a dense array (X.toarray())")
    array = np.asarray(X)
    if array.dtype.kind == "c":
        raise ValueError(f"{owner}: Complex data not supported; X must hold real numbers")
    if array.dtype.kind not in "biuf":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{owner}: X must hold numbers (argument must be a string or a real number), got dtype "
                f"{array.dtype}"
            ) from error
    return array


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except (TypeError, ValueError):
        return False
