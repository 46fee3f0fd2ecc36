"""Perceptron: the mistake-driven rule, its convergence bound, agreement with scikit-learn's Perceptron."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Perceptron as SklearnPerceptron

from ember.classic import Perceptron


def separable(seed=0, n=200, features=5, margin=0.3):
    """Points at least ``margin`` from a random hyperplane u . (x, 1) = 0 (u a unit vector), by side."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(features + 1)
    u /= np.linalg.norm(u)
    X = rng.uniform(-2, 2, (4 * n, features))
    side = np.concatenate([X, np.ones((len(X), 1))], axis=1) @ u
    keep = np.abs(side) >= margin
    return X[keep][:n], np.where(side[keep][:n] > 0, 1, -1), u


def test_converges_within_novikoffs_bound_on_separable_data():
    X, y, u = separable()
    model = Perceptron(max_epochs=1000).fit(X, y)
    assert model.converged_ and model.mistakes_[-1] == 0
    assert model.score(X, y) == 1.0
    augmented = np.concatenate([X, np.ones((len(X), 1))], axis=1)
    radius = np.linalg.norm(augmented, axis=1).max()
    gamma = np.min(y * (augmented @ u))  # the margin of the separator that made the data
    assert sum(model.mistakes_) <= (radius / gamma) ** 2


def test_the_rule_is_w_plus_y_x_on_mistakes():
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    model = Perceptron(max_epochs=1).fit(X, [1, -1])
    # example 1: score 0 -> mistake (y s <= 0): w = (1, 0), b = 1; example 2: score 0 + 1 = 1 -> mistake
    # for y = -1: w = (1, 0) - (0, 1) = (1, -1), b = 1 - 1 = 0
    np.testing.assert_array_equal(model.coef_, [[1.0, -1.0]])
    np.testing.assert_array_equal(model.intercept_, [0.0])
    assert model.mistakes_ == [2] and not model.converged_


def test_equals_sklearn_perceptron_on_two_classes():
    # scikit-learn's Perceptron is the same rule (SGD on max(0, -y s), step 1, updating when y s <= 0).
    X, y, _ = separable(seed=1)
    ours = Perceptron(max_epochs=50).fit(X, y)
    theirs = SklearnPerceptron(max_iter=50, tol=None, shuffle=False).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-12)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_never_converges_on_xor():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    model = Perceptron(max_epochs=30).fit(X, [0, 0, 1, 1])
    assert not model.converged_ and model.n_iter_ == 30
    assert min(model.mistakes_) > 0


def test_multiclass_perceptron_separates_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0], [5.0, 5.0]])
    y = rng.integers(0, 4, 400)
    X = centres[y] + rng.uniform(-1, 1, (400, 2))
    model = Perceptron(max_epochs=100, shuffle=True, random_state=0).fit(X, np.array(list("abcd"))[y])
    assert model.converged_ and model.coef_.shape == (4, 2)
    assert model.score(X, np.array(list("abcd"))[y]) == 1.0


def test_needs_two_classes():
    with pytest.raises(ValueError, match="at least 2 classes"):
        Perceptron().fit(np.zeros((3, 2)), [1, 1, 1])
