"""The estimator contract: parameters, cloning, and scikit-learn's model selection tools and common checks."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.datasets import load_digits
from sklearn.ensemble import VotingClassifier
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from ember.classic import KNearestNeighbors, LinearClassifier, LogisticRegression, NotFittedError, Perceptron

ESTIMATORS = [
    KNearestNeighbors(k=3),
    LinearClassifier("softmax", epochs=5, random_state=0),
    LinearClassifier("svm", epochs=5, random_state=0),
    Perceptron(max_epochs=20),
    LogisticRegression(epochs=5, random_state=0),
]

# scikit-learn's common checks that no estimator outside scikit-learn can pass without importing it: they
# demand scikit-learn's own NotFittedError class and DataConversionWarning category. Ember raises its own
# NotFittedError (a ValueError and AttributeError, like scikit-learn's) and accepts a column y silently.
NEEDS_SKLEARN_CLASSES = {"check_estimators_unfitted", "check_supervised_y_2d"}


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_passes_sklearns_common_checks_except_its_own_classes(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:300] for r in results if r["status"] == "failed"}
    assert set(failed) == NEEDS_SKLEARN_CLASSES, failed
    assert len(results) > 40


def test_get_params_reads_init_and_set_params_writes_it():
    model = LinearClassifier("svm", reg=0.5)
    params = model.get_params()
    assert params["loss"] == "svm" and params["reg"] == 0.5 and params["epochs"] == 30
    assert set(params) == {
        "loss", "reg", "reg_type", "l1_ratio", "lr", "epochs", "batch_size", "momentum", "lr_decay",
        "standardize", "weight_scale", "random_state", "verbose",
    }  # fmt: skip
    assert model.set_params(reg=0.1, epochs=3) is model
    assert (model.reg, model.epochs) == (0.1, 3)
    with pytest.raises(ValueError, match="invalid parameter 'regularization'"):
        model.set_params(regularization=1)
    assert repr(model) == "LinearClassifier(epochs=3, loss='svm', reg=0.1)"
    assert repr(KNearestNeighbors()) == "KNearestNeighbors()"


def test_clone_copies_parameters_not_fitted_state():
    X, y = load_digits(return_X_y=True)
    model = KNearestNeighbors(k=4, distance="l1").fit(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "classes_")
    with pytest.raises(NotFittedError):
        copy.predict(X)
    assert isinstance(NotFittedError("x"), ValueError) and isinstance(NotFittedError("x"), AttributeError)
    assert is_classifier(model)


def test_grid_search_and_pipeline():
    X, y = load_digits(return_X_y=True)
    search = GridSearchCV(KNearestNeighbors(), {"k": [1, 3, 5], "distance": ["l1", "l2"]}, cv=3).fit(X, y)
    assert search.best_params_["k"] in (1, 3, 5)
    assert search.best_score_ > 0.95
    pipeline = make_pipeline(StandardScaler(), LinearClassifier("softmax", epochs=20, random_state=0))
    assert cross_val_score(pipeline, X, y, cv=3).mean() > 0.9
    voting = VotingClassifier(
        [("knn", KNearestNeighbors(3)), ("softmax", pipeline)], voting="soft"
    )  # soft voting needs predict_proba from every member
    assert voting.fit(X, y).score(X, y) > 0.95
    with pytest.raises(AttributeError):
        VotingClassifier([("svm", LinearClassifier("svm"))], voting="soft").fit(X, y).predict_proba(X)


def test_images_are_flattened_and_their_shape_remembered():
    rng = np.random.default_rng(0)
    images = rng.random((30, 2, 3, 4)).astype(np.float32)
    model = LinearClassifier(epochs=1).fit(images, np.arange(30) % 3)
    assert model.n_features_in_ == 24 and model.input_shape_ == (2, 3, 4)
    np.testing.assert_array_equal(model.predict(images), model.predict(images.reshape(30, -1)))


def test_classic_imports_without_sklearn():
    # scikit-learn is only a test dependency: ember.classic must work with NumPy alone.
    code = (
        "import sys\n"
        "for name in ('sklearn', 'skimage', 'scipy', 'matplotlib'):\n"
        "    sys.modules[name] = None  # importing any of them now fails\n"
        "import numpy as np, ember.classic as c\n"
        "X = np.random.default_rng(0).random((20, 4)); y = np.arange(20) % 2\n"
        "models = c.KNearestNeighbors(3), c.LinearClassifier(epochs=2), c.Perceptron()\n"
        "models += (c.LogisticRegression(),)\n"
        "for m in models:\n"
        "    m.fit(X, y).predict(X)\n"
        "c.hog(np.zeros((1, 16, 16))); c.color_histogram(np.zeros((1, 3, 4, 4)))\n"
        "print(c.LinearClassifier().get_params()['loss'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "softmax"
