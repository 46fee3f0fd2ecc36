"""Binary logistic regression: its gradient, and the same optimum as scikit-learn's LogisticRegression."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

import ember
from ember.classic import LogisticRegression
from ember.classic.logistic import logistic_loss, sigmoid


def test_loss_and_gradient_match_embers_autograd():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((30, 1)) * 5
    y = rng.integers(0, 2, 30)
    loss, dscores = logistic_loss(scores, y)
    s = ember.tensor(scores, requires_grad=True)
    p = ember.sigmoid(s[:, 0])
    target = ember.tensor(y.astype(np.float64))
    expected = -(target * ember.log(p) + (1 - target) * ember.log(1 - p)).mean()
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-10)
    np.testing.assert_allclose(dscores, s.grad.numpy(), rtol=1e-9)


def test_loss_is_finite_for_huge_scores():
    loss, dscores = logistic_loss(np.array([[800.0], [-800.0]]), np.array([0, 1]))
    assert loss == pytest.approx(800.0)
    np.testing.assert_allclose(dscores[:, 0], [0.5, -0.5])
    np.testing.assert_array_equal(sigmoid(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])


def test_reaches_sklearns_optimum_for_the_same_objective():
    X, y = load_breast_cancer(return_X_y=True)
    X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32)
    C = 1.0
    theirs = SklearnLogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    # sklearn: C sum L_i + ||w||^2 / 2; Ember: mean L_i + reg ||w||^2, the same minimizer for reg = 1/(2 C N)
    ours = LogisticRegression(reg=1 / (2 * C * len(X)), lr=0.5, momentum=0.9, epochs=2000, batch_size=None)
    ours.fit(X, y)  # full-batch gradient descent with momentum, to convergence
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-3)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-3)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-3)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_labels_and_shapes_follow_sklearn():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3)).astype(np.float32)
    labels = np.where(X[:, 0] > 0, "spam", "ham")
    model = LogisticRegression(epochs=30, random_state=0).fit(X, labels)
    assert list(model.classes_) == ["ham", "spam"]
    assert model.coef_.shape == (1, 3) and model.intercept_.shape == (1,)
    assert model.decision_function(X).shape == (100,)
    assert model.score(X, labels) > 0.95
    probabilities = model.predict_proba(X)
    np.testing.assert_array_equal(model.classes_[probabilities.argmax(axis=1)], model.predict(X))


def test_more_than_two_classes_is_one_vs_rest():
    rng = np.random.default_rng(0)
    centres = np.array([[4, 0], [0, 4], [-4, -4]], dtype=np.float32)
    y = rng.integers(0, 3, 300)
    X = centres[y] + rng.standard_normal((300, 2)).astype(np.float32)
    model = LogisticRegression(lr=0.1, epochs=30, random_state=0).fit(X, y)
    assert model.coef_.shape == (3, 2) and model.score(X, y) > 0.97
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1, rtol=1e-6)
    # each unit is a binary classifier of its class against the rest
    scores = model.decision_function(X)
    for c in range(3):
        assert np.mean((scores[:, c] > 0) == (y == c)) > 0.95
    _, dscores = logistic_loss(scores, y)
    np.testing.assert_allclose(dscores, (sigmoid(scores) - np.eye(3)[y]) / len(y), rtol=1e-6)
