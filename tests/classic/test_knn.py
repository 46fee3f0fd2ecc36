"""k-nearest neighbours: agreement with scikit-learn, tie-breaking, cross-validation, MNIST accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from ember.classic import KNearestNeighbors, cross_validate_k, pairwise_distances
from ember.classic.knn import k_smallest

METRICS = {"l2": "euclidean", "l1": "manhattan"}  # scikit-learn's names
SCIPY = {"l2": "euclidean", "l1": "cityblock"}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)  # 1,797 8x8 images, integer pixels 0..16
    return X, y


def reference_predictions(X_train, y_train, X_test, k, distance):
    """The documented rule spelled out: stable sort of exact distances, then the smallest modal label."""
    exact = cdist(X_test, X_train, SCIPY[distance])
    nearest = np.argsort(exact, axis=1, kind="stable")[:, :k]
    labels = y_train[nearest]
    return np.array([np.bincount(row, minlength=10).argmax() for row in labels])


# Two distances closer than this (relative) may be ordered either way by rounding: float32 sums, and the
# matrix product's summation order, which depends on the processor's BLAS kernel (AVX2 and AVX-512 differ).
RANK_RTOL = {np.float32: 1e-4, np.float64: 1e-9}


def clearly_ranked(X_train, X_test, distance, k, rtol, whole_order=False):
    """Test rows whose k nearest training rows are not a matter of rounding: in the exact distances, the
    (k+1)-th exceeds the k-th by more than ``rtol`` (relative); with ``whole_order``, each of the first k + 1
    exceeds the one before it, so that the order of the k is clear too."""
    exact = np.sort(cdist(X_test, X_train, SCIPY[distance]), axis=1)[:, : k + 1]
    gaps = np.diff(exact, axis=1) > rtol * exact[:, 1:]
    return gaps.all(axis=1) if whole_order else gaps[:, -1]


@pytest.mark.parametrize("distance", ["l2", "l1"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predictions_equal_sklearn_without_distance_ties(digits, distance, dtype):
    # A little noise breaks the exact ties of integer pixels; the results must then be identical, vote ties
    # included (both give them to the smallest label), for every test image whose k nearest are clear to
    # the precision of the type.
    X, y = digits
    X = X + np.random.default_rng(0).uniform(0, 0.01, X.shape)
    X_train, y_train, X_test = X[:1200].astype(dtype), y[:1200], X[1200:].astype(dtype)
    exact_train, exact_test = X_train.astype(np.float64), X_test.astype(np.float64)
    for k in (1, 2, 3, 4, 5, 8, 10):
        clear = clearly_ranked(exact_train, exact_test, distance, k, RANK_RTOL[dtype])
        assert clear.mean() > 0.9
        ours = KNearestNeighbors(k, distance).fit(X_train, y_train)
        theirs = KNeighborsClassifier(k, metric=METRICS[distance], algorithm="brute").fit(X_train, y_train)
        np.testing.assert_array_equal(ours.predict(X_test)[clear], theirs.predict(X_test)[clear], f"k={k}")
        np.testing.assert_allclose(ours.predict_proba(X_test)[clear], theirs.predict_proba(X_test)[clear])
    clear = clearly_ranked(exact_train, exact_test, distance, 10, RANK_RTOL[dtype], whole_order=True)
    assert clear.mean() > 0.5
    distances, indices = ours.kneighbors(X_test)
    their_distances, their_indices = theirs.kneighbors(X_test)
    np.testing.assert_array_equal(indices[clear], their_indices[clear])
    np.testing.assert_allclose(distances, their_distances, rtol=1e-4 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("distance", ["l2", "l1"])
def test_ties_go_to_the_first_training_example_and_the_smallest_label(digits, distance):
    # Integer pixels make many exactly equal distances. Ember keeps the training order among them (the
    # stable-sort rule); scikit-learn's choice among equal distances depends on its search internals, so the
    # two may differ, but only for test images whose k-th and (k+1)-th distances are equal.
    X, y = digits
    X_train, y_train, X_test = X[:1200], y[:1200], X[1200:]
    exact = cdist(X_test, X_train, SCIPY[distance])
    ordered = np.sort(exact, axis=1)
    for k in (1, 2, 3, 4, 5, 8, 10):
        ours = KNearestNeighbors(k, distance).fit(X_train, y_train).predict(X_test)
        np.testing.assert_array_equal(ours, reference_predictions(X_train, y_train, X_test, k, distance))
        theirs = KNeighborsClassifier(k, metric=METRICS[distance]).fit(X_train, y_train).predict(X_test)
        differ = ours != theirs
        assert np.all(ordered[differ, k - 1] == ordered[differ, k]), f"k={k}: a difference without a tie"
    for dtype in (np.uint8, np.float32):  # integer images: the same exact ties in every type
        same = (
            KNearestNeighbors(5, distance).fit(X_train.astype(dtype), y_train).predict(X_test.astype(dtype))
        )
        np.testing.assert_array_equal(same, reference_predictions(X_train, y_train, X_test, 5, distance))


def test_vote_ties_go_to_the_smallest_label():
    X_train = np.array([[0.0], [1.0], [-2.0], [3.0]])
    model = KNearestNeighbors(k=2).fit(X_train, ["b", "a", "c", "a"])
    # neighbours of 0.4: 0.0 ("b") and 1.0 ("a"): one vote each, "a" < "b"
    assert model.predict([[0.4]])[0] == "a"
    np.testing.assert_array_equal(model.predict_proba([[0.4]]), [[0.5, 0.5, 0.0]])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 8),
    columns=st.integers(1, 3000),
    levels=st.integers(1, 20),
    k=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_k_smallest_equals_a_stable_full_sort(rows, columns, levels, k, seed):
    # Few distinct values: ties everywhere, including across block boundaries.
    values = np.random.default_rng(seed).integers(0, levels, (rows, columns)).astype(np.float32)
    k = min(k, columns)
    np.testing.assert_array_equal(k_smallest(values, k), np.argsort(values, axis=1, kind="stable")[:, :k])


def test_k_smallest_on_long_rows():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 50, (30, 60_000)).astype(np.float32)
    for k in (1, 7, 40):
        np.testing.assert_array_equal(k_smallest(values, k), np.argsort(values, axis=1, kind="stable")[:, :k])


@pytest.mark.parametrize("distance", ["l2", "l1"])
def test_pairwise_distances_match_scipy(distance):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 50)) + 10, rng.standard_normal((40, 50)) + 10
    np.testing.assert_allclose(pairwise_distances(X, Y, distance), cdist(X, Y, SCIPY[distance]), rtol=1e-10)
    np.testing.assert_allclose(
        pairwise_distances(X.astype(np.float32), Y.astype(np.float32), distance),
        cdist(X, Y, SCIPY[distance]),
        rtol=1e-5,
    )
    images = rng.integers(0, 256, (2, 12, 28, 28), dtype=np.uint8)  # uint8 L1 is exact (int16 arithmetic)
    np.testing.assert_array_equal(
        pairwise_distances(images[0], images[1], "l1"),
        cdist(images[0].reshape(12, -1), images[1].reshape(12, -1), "cityblock"),
    )


@pytest.mark.parametrize("distance", ["l2", "l1"])
def test_chunks_and_threads_do_not_change_the_result(digits, distance):
    X, y = digits
    whole = KNearestNeighbors(3, distance).fit(X[:1000], y[:1000]).kneighbors(X[1000:])
    for options in ({"chunk_size": 7}, {"chunk_size": 100, "n_jobs": 3}, {"n_jobs": -1}):
        parts = KNearestNeighbors(3, distance, **options).fit(X[:1000], y[:1000]).kneighbors(X[1000:])
        np.testing.assert_array_equal(whole[1], parts[1])
        np.testing.assert_array_equal(whole[0], parts[0])


def test_fit_only_remembers_the_data():
    X = np.random.default_rng(0).standard_normal((50, 4))
    model = KNearestNeighbors().fit(X, np.arange(50) % 3)
    assert np.shares_memory(model.X_train_, X)  # no copy, no work
    assert KNearestNeighbors(k=1).fit(X, np.arange(50)).score(X, np.arange(50)) == 1.0


def test_errors_are_clear():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="distance must be one of"):
        KNearestNeighbors(distance="cosine").fit(X, np.arange(5))
    with pytest.raises(ValueError, match="exceeds the 5 training examples"):
        KNearestNeighbors(k=6).fit(X, np.arange(5)).predict(X)
    with pytest.raises(ValueError, match="positive integer"):
        KNearestNeighbors(k=0).fit(X, np.arange(5)).predict(X)
    with pytest.raises(ValueError, match="NaN"):
        KNearestNeighbors().fit(np.full((3, 2), np.nan), [0, 1, 2])


def tie_shares(X, distance, k, folds):
    """Per fold of KFold(folds): the share of validation rows whose k-th and (k+1)-th distances are equal."""
    shares = []
    for train, validation in KFold(folds).split(X):
        exact = np.sort(cdist(X[validation], X[train], SCIPY[distance]), axis=1)
        shares.append(np.mean(exact[:, k - 1] == exact[:, k]))
    return np.array(shares)


def test_cross_validation_equals_sklearn_cross_val_score(digits):
    X, y = digits
    X, y = X[:600], y[:600]
    result = cross_validate_k(X, y, ks=(1, 3, 5, 9), distances=("l1", "l2"), folds=5)
    for (distance, k), accuracies in result.accuracies.items():
        sklearn = cross_val_score(KNeighborsClassifier(k, metric=METRICS[distance]), X, y, cv=KFold(5))
        ours = cross_val_score(KNearestNeighbors(k, distance), X, y, cv=KFold(5))
        np.testing.assert_allclose(accuracies, ours, err_msg=f"{distance}, k={k}")
        # scikit-learn's choice among equal distances depends on its partition code (SIMD-specific), so
        # each fold's accuracies may differ by at most the share of images with a tie at the k-th neighbour.
        assert np.all(np.abs(accuracies - sklearn) <= tie_shares(X, distance, k, folds=5) + 1e-12)
    best = max(result.accuracies, key=lambda key: result.accuracies[key].mean())
    assert result.mean_accuracy(result.best_distance, result.best_k) == result.accuracies[best].mean()


def test_knn_with_cross_validated_k_scores_90_percent_on_mnist(mnist):
    train_images, train_labels, test_images, test_labels = mnist
    rng = np.random.default_rng(0)
    train = rng.choice(len(train_images), 5000, replace=False)
    test = rng.choice(len(test_images), 1000, replace=False)
    X_train, y_train = train_images[train], train_labels[train]
    result = cross_validate_k(X_train, y_train, ks=(1, 3, 5, 8, 10), folds=5)
    model = KNearestNeighbors(result.best_k, result.best_distance).fit(X_train, y_train)
    accuracy = model.score(test_images[test], test_labels[test])
    print(f"kNN on 5,000 MNIST: k={result.best_k}, {result.best_distance}, test accuracy {accuracy:.3f}")
    assert accuracy >= 0.90
