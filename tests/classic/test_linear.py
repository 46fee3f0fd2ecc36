"""LinearClassifier: the lectures' worked losses, analytic gradients (numerical, autograd), MNIST accuracy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

import ember
from ember.classic import LinearClassifier, linear_loss, regularization, softmax_loss, svm_loss
from ember.classic.base import NotFittedError
from tests.classic.datasets import pixels

# The lecture's three training examples (cat, car, frog) and their scores, one row per example.
LECTURE_SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
LECTURE_LABELS = np.array([0, 1, 2])


def test_svm_loss_is_the_lectures_worked_example():
    # L_1 = max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1) = 2.9; L_2 = 0; L_3 = 6.3 + 6.6 = 12.9.
    loss, _ = svm_loss(LECTURE_SCORES, LECTURE_LABELS)
    assert loss == pytest.approx((2.9 + 0 + 12.9) / 3)
    assert round(loss, 2) == 5.27


def test_softmax_loss_is_the_lectures_worked_example():
    # cat scores 3.2, car 5.1, frog -1.7 -> probabilities 0.13, 0.87, 0.00 -> L = -log(0.13) = 2.04
    loss, _ = softmax_loss(LECTURE_SCORES[:1], LECTURE_LABELS[:1])
    assert round(loss, 2) == 2.04


def test_svm_loss_does_not_change_when_a_satisfied_correct_score_grows():
    # The lecture's question: doubling the correct score of an example with no loss leaves the SVM loss at 0.
    scores = LECTURE_SCORES[1:2].copy()
    scores[0, 1] *= 2
    assert svm_loss(scores, LECTURE_LABELS[1:2])[0] == 0
    assert (
        softmax_loss(scores, LECTURE_LABELS[1:2])[0]
        < softmax_loss(LECTURE_SCORES[1:2], LECTURE_LABELS[1:2])[0]
    )


class AnalyticLoss(ember.Function):
    """``linear_loss`` as an Ember Function whose backward is the hand-derived gradient, for ``gradcheck``."""

    @staticmethod
    def forward(ctx, W, b, X, y, loss, reg, reg_type):
        value, dW, db = linear_loss(W, b, X, y, loss, reg, reg_type)
        ctx.save_for_backward(dW, db)
        return np.array(value, dtype=W.dtype)

    @staticmethod
    def backward(ctx, grad):
        dW, db = ctx.saved_tensors
        return grad * dW, grad * db, None, None, None, None, None


def problem(seed=0, n=12, features=7, classes=4):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((classes, features))
    b = rng.standard_normal(classes)
    X = rng.standard_normal((n, features))
    y = rng.integers(0, classes, n)
    return W, b, X, y


@pytest.mark.parametrize("loss", ["svm", "softmax"])
@pytest.mark.parametrize("reg_type", ["l2", "l1", "elastic"])
def test_analytic_gradient_matches_numerical_gradient(loss, reg_type):
    W, b, X, y = problem()
    inputs = [ember.tensor(W, requires_grad=True), ember.tensor(b, requires_grad=True)]
    # Central differences in float64; eps small enough that no hinge or |w| kink is crossed.
    assert ember.gradcheck(
        lambda W_, b_: AnalyticLoss.apply(W_, b_, X, y, loss, 0.3, reg_type), inputs, eps=1e-7, atol=1e-6
    )


def autograd_loss(W, b, X, y, loss, reg, reg_type, l1_ratio=0.5):
    """The same objective built from Ember's differentiable operations, for backward to differentiate."""
    scores = ember.tensor(X) @ W.T + b
    rows = ember.tensor(y[:, None])
    correct = scores.gather(1, rows)
    if loss == "svm":
        margins = ember.clamp(scores - correct + 1, min=0)
        # the j = y_i term is max(0, 1) = 1 for every example: remove it instead of masking
        data = (margins.sum(dim=1) - 1).mean()
    else:
        data = -ember.log_softmax(scores, dim=1).gather(1, rows).mean()
    l1 = {"l2": 0.0, "l1": 1.0, "elastic": l1_ratio}[reg_type]
    penalty = (W * W).sum() * (1 - l1) + W.abs().sum() * l1
    return data + penalty * reg


@pytest.mark.parametrize("loss", ["svm", "softmax"])
@pytest.mark.parametrize("reg_type", ["l2", "l1", "elastic"])
def test_analytic_gradient_matches_embers_autograd(loss, reg_type):
    W, b, X, y = problem(seed=1, n=50, features=20, classes=5)
    W_t, b_t = ember.tensor(W, requires_grad=True), ember.tensor(b, requires_grad=True)
    value = autograd_loss(W_t, b_t, X, y, loss, 0.05, reg_type)
    value.backward()
    expected_value, dW, db = linear_loss(W, b, X, y, loss, 0.05, reg_type)
    assert value.item() == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(dW, W_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, b_t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_loss_and_gradients_of_a_fitted_model():
    _, _, X, y = problem(seed=2, n=40, classes=3)
    labels = np.array(["cat", "car", "frog"])[y]
    model = LinearClassifier("svm", reg=0.1, epochs=1, random_state=0).fit(X, labels)
    value, dW, db = model.loss_and_gradients(X, labels)
    index = np.searchsorted(model.classes_, labels)
    expected = linear_loss(model.coef_, model.intercept_, X.astype(np.float32), index, "svm", 0.1)
    assert value == pytest.approx(expected[0], rel=1e-6)
    np.testing.assert_allclose(dW, expected[1], rtol=1e-6)
    np.testing.assert_allclose(db, expected[2], rtol=1e-6)
    with pytest.raises(ValueError, match="not seen in fit"):
        model.loss_and_gradients(X[:2], ["cat", "dog"])


def test_gradients_keep_float32():
    W, b, X, y = (a.astype(np.float32) if a.dtype.kind == "f" else a for a in problem())
    for loss in ("svm", "softmax"):
        _, dW, db = linear_loss(W, b, X, y, loss, 0.1, "elastic")
        assert dW.dtype == np.float32 and db.dtype == np.float32


def test_regularization_values():
    W = np.array([[1.0, -2.0], [0.0, 3.0]])
    assert regularization(W, 0.5, "l2")[0] == pytest.approx(0.5 * 14)
    assert regularization(W, 0.5, "l1")[0] == pytest.approx(0.5 * 6)
    assert regularization(W, 0.5, "elastic", l1_ratio=0.25)[0] == pytest.approx(0.5 * (0.25 * 6 + 0.75 * 14))
    np.testing.assert_array_equal(regularization(W, 1.0, "l1")[1], [[1, -1], [0, 1]])
    with pytest.raises(ValueError, match="reg_type"):
        regularization(W, 1.0, "l3")


def test_l1_regularization_makes_weights_sparser_than_l2():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 30)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)  # only two features matter
    common = dict(loss="softmax", reg=0.02, lr=0.05, epochs=40, batch_size=50, random_state=0)
    l1 = LinearClassifier(reg_type="l1", **common).fit(X, y).coef_
    l2 = LinearClassifier(reg_type="l2", **common).fit(X, y).coef_
    assert np.mean(np.abs(l1[:, 2:]) < 1e-2) > np.mean(np.abs(l2[:, 2:]) < 1e-2)


def test_separable_blobs_and_predict_proba():
    rng = np.random.default_rng(0)
    centres = np.array([[4, 0], [0, 4], [-4, -4]], dtype=np.float32)
    y = rng.integers(0, 3, 300)
    X = centres[y] + rng.standard_normal((300, 2)).astype(np.float32)
    labels = np.array(["a", "b", "c"])[y]
    for loss in ("svm", "softmax"):
        model = LinearClassifier(loss, lr=0.05, epochs=20, random_state=0).fit(X, labels)
        assert model.score(X, labels) > 0.97
        assert model.coef_.dtype == np.float32 and model.coef_.shape == (3, 2)
    probabilities = model.predict_proba(X)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(model.classes_[probabilities.argmax(axis=1)], model.predict(X))


def test_scores_of_a_row_do_not_depend_on_its_batch():
    # scikit-learn's check_methods_subset_invariance: a float32 matrix product sums in an order that depends
    # on the matrix shape and the processor's BLAS kernel; Ember's scores must not (one float32 rounding).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 784)).astype(np.float32)
    model = LinearClassifier(epochs=2, random_state=0).fit(X, np.arange(300) % 10)
    batch = model.decision_function(X)
    one_by_one = np.concatenate([model.decision_function(X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(one_by_one, batch, rtol=2.5e-7, atol=1e-7 * np.abs(batch).max())


def test_mini_batch_training_runs_blas_on_one_thread():
    # A mini-batch's products are too small for BLAS threads, whose synchronization at every call made fit
    # 16 times slower on a busy machine; full-batch training keeps the threads the user gave BLAS.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []

    class Recording(LinearClassifier):
        def _score_loss(self, scores, y):
            seen.append(
                min(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
            )
            return super()._score_loss(scores, y)

    X, y = np.random.default_rng(0).standard_normal((400, 5)).astype(np.float32), np.arange(400) % 3
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        Recording(epochs=1).fit(X, y)
        assert set(seen) == {1}
        seen.clear()
        Recording(epochs=1, batch_size=None).fit(X, y)
        assert set(seen) == {2}


def test_predict_proba_exists_only_for_softmax():
    assert hasattr(LinearClassifier("softmax"), "predict_proba")
    assert not hasattr(LinearClassifier("svm"), "predict_proba")


def test_errors_are_clear():
    X = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(NotFittedError, match="not fitted"):
        LinearClassifier().predict(X)
    with pytest.raises(ValueError, match="loss must be one of"):
        LinearClassifier("hinge").fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        LinearClassifier().fit(X, [1, 1, 1, 1])
    model = LinearClassifier(epochs=1).fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="expecting 3 features"):
        model.predict(np.zeros((2, 5)))
    with pytest.raises(FloatingPointError, match="lower lr"):
        big = np.random.default_rng(0).standard_normal((20, 3)).astype(np.float32) * 1e18
        LinearClassifier("softmax", lr=1e20, epochs=2).fit(big, [0, 1] * 10)


def test_templates_render_as_images():
    rng = np.random.default_rng(0)
    images = rng.random((40, 3, 4, 5)).astype(np.float32)  # NCHW colour images
    model = LinearClassifier(epochs=1, random_state=0).fit(images, np.arange(40) % 4)
    assert model.templates().shape == (4, 3, 4, 5)
    # the weights on the standardized pixels: coef_ times each pixel's spread
    np.testing.assert_allclose(model.templates()[2].ravel(), model.coef_[2] * model.scale_, rtol=1e-6)
    raw = LinearClassifier(epochs=1, standardize=False, random_state=0).fit(images, np.arange(40) % 4)
    np.testing.assert_array_equal(raw.templates()[2].ravel(), raw.coef_[2])
    rendered = model.template_images()
    assert rendered.shape == (4, 4, 5, 3) and rendered.dtype == np.uint8
    assert (rendered.reshape(4, -1).min(axis=1) == 0).all() and (
        rendered.reshape(4, -1).max(axis=1) == 255
    ).all()
    grey = LinearClassifier(epochs=1, random_state=0).fit(images[:, 0], np.arange(40) % 4)
    assert grey.template_images().shape == (4, 4, 5)


@pytest.fixture(scope="module")
def mnist_pixels(mnist):
    train_images, y_train, test_images, y_test = mnist
    X_train, mean = pixels(train_images)
    X_test, _ = pixels(test_images, mean)
    return X_train, y_train, X_test, y_test


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_defaults_need_no_tuning_on_20000_mnist_images(mnist, loss):
    # The defaults are meant to be left alone: the first 20,000 training and 2,000 test images, as they come
    # (uint8, 0..255) or scaled to 0..1. scikit-learn's LogisticRegression with its defaults scores 0.892
    # there (pixels / 255), Ember's defaults about 0.895 (docs/classic.md); the old defaults 0.875-0.883 on
    # pixels / 255 and 0.82-0.86 on 0..255. The bound leaves room for the last bits of float32 SGD, which
    # differ between machines.
    train_images, y_train, test_images, y_test = mnist
    y_train, y_test = y_train[:20_000], y_test[:2000]
    for scale in (None, 255):
        train, test = train_images[:20_000], test_images[:2000]
        if scale:
            train, test = train / np.float32(scale), test / np.float32(scale)
        model = LinearClassifier(loss, random_state=0).fit(train, y_train)
        accuracy = model.score(test, y_test)
        print(f"{loss}, pixels / {scale or 1}: accuracy {accuracy:.4f}")
        assert accuracy >= 0.885
        assert model.loss_history_[-100:].mean() < model.loss_history_[0] / 4


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_defaults_reach_91_percent_on_full_mnist(mnist, loss):
    train_images, y_train, test_images, y_test = mnist
    model = LinearClassifier(loss, random_state=0).fit(train_images, y_train)
    accuracy = model.score(test_images, y_test)
    print(f"{loss}: MNIST test accuracy {accuracy:.4f}")
    assert accuracy >= 0.91


def test_softmax_classifier_matches_sklearn_logistic_regression_on_mnist(mnist_pixels):
    # Both minimize the same objective on all 60,000 training images: mean cross-entropy + ||W||^2 / (2 C N)
    # with sklearn's default C = 1, sklearn by L-BFGS (its default 100 iterations), Ember by SGD.
    X_train, y_train, X_test, y_test = mnist_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # L-BFGS stops at max_iter before its tolerance, and says so
        theirs = SklearnLogisticRegression(C=1.0).fit(X_train, y_train).score(X_test, y_test)
    ours = LinearClassifier(
        "softmax",
        reg=1 / (2 * len(X_train)),
        lr=0.05,
        epochs=15,
        lr_decay=0.85,
        standardize=False,
        random_state=0,
    )
    mine = ours.fit(X_train, y_train).score(X_test, y_test)
    print(f"softmax on MNIST: ember {mine:.4f}, sklearn LogisticRegression {theirs:.4f}")
    assert abs(mine - theirs) <= 0.01
