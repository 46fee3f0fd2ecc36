"""k-nearest neighbours: memorize the training set, label a new image by a vote of the k closest ones.

The lectures' first classifier. Training is O(1) (the data are only remembered); prediction costs one distance
per (test, training) pair, computed for whole chunks of test images at once, never one test image at a time:

- L2 by the expanded square, ||x - t||^2 = ||x||^2 - 2 x.t + ||t||^2, so that the work is one matrix
  product per chunk (float32 GEMM, the machine's fastest operation). In float32 both sides are centred on the
  training mean first: distances do not change, but the squared norms shrink, and so does the cancellation.
- L1 has no such product form; it is summed feature by feature over small tiles of pairs (in int16 for uint8
  images, which is exact and halves the memory traffic), and is several times slower than L2.

Ties are broken deterministically: among equal distances the training example that comes first wins, and among
classes with equal votes the smallest label wins (as scikit-learn's ``KNeighborsClassifier``, whose vote is a
mode that returns the smallest of the most frequent labels).

``cross_validate_k`` is the lectures' "set hyperparameters on validation data, not on the test data": k-fold
cross-validation over k and the distance, computing each fold's neighbours once for the largest k.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ember.classic.base import Classifier, as_examples

DISTANCES = ("l1", "l2")
_CHUNK_BYTES = 256 * 2**20  # one chunk's distance matrix: bounded memory, still large GEMMs


class KNearestNeighbors(Classifier):
    """k-nearest-neighbour classifier with L1 or L2 distance and a majority vote.

    Parameters: ``k`` neighbours vote; ``distance`` is ``'l2'`` (Euclidean) or ``'l1'`` (Manhattan);
    ``chunk_size`` test examples are processed together (``None``: as many as fit in 256 MB of distances);
    ``n_jobs`` threads compute L1 distances (``None``: 1, ``-1``: one per core; L2's matrix product is
    already multi-threaded by the BLAS library).

    Distances are computed in float64 when the data are float64, in int16 for L1 between uint8 images, and in
    float32 otherwise. Fitted attributes: ``classes_``, ``X_train_`` (the remembered examples, not copied when
    already an array), ``y_train_`` (indices into ``classes_``), ``n_features_in_``, ``input_shape_``.
    """

    def __init__(
        self, k: int = 1, distance: str = "l2", chunk_size: int | None = None, n_jobs: int | None = None
    ) -> None:
        self.k = k
        self.distance = distance
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any) -> KNearestNeighbors:
        """Remember the training set: O(1) apart from validating it."""
        _check_distance(self.distance)
        self.X_train_, self.y_train_ = self._fit_inputs(X, y, dtype=None)
        return self

    def kneighbors(
        self, X: Any, n_neighbors: int | None = None, return_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """Distances to and indices of the ``n_neighbors`` nearest training examples, nearest first.

        Returns ``(distances, indices)``, each ``(N, n_neighbors)``, or only the indices if
        ``return_distance`` is false (scikit-learn's ``kneighbors``).
        """
        k = self._neighbour_count(n_neighbors)
        X = self._predict_inputs(X, dtype=None)
        workers = (os.cpu_count() or 1) if self.n_jobs == -1 else (self.n_jobs or 1)
        parts = list(
            _neighbours(X, self.X_train_, k, self.distance, self.chunk_size, return_distance, workers)
        )
        indices = np.concatenate([p[0] for p in parts])
        if not return_distance:
            return indices
        return np.concatenate([p[1] for p in parts]), indices

    def predict(self, X: Any) -> np.ndarray:
        """The majority label among the k nearest training examples (ties: the smallest label)."""
        votes = self._votes(X)
        return self.classes_[votes.argmax(axis=1)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """The fraction of the k neighbours' votes for each class, columns in the order of ``classes_``."""
        return self._votes(X) / self._neighbour_count(None)

    def _votes(self, X: Any) -> np.ndarray:
        indices = self.kneighbors(X, return_distance=False)
        assert isinstance(indices, np.ndarray)
        return vote_counts(self.y_train_[indices], len(self.classes_))

    def _neighbour_count(self, n_neighbors: int | None) -> int:
        k = self.k if n_neighbors is None else n_neighbors
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"KNearestNeighbors: k must be a positive integer, got {k!r}")
        if hasattr(self, "X_train_") and k > len(self.X_train_):
            raise ValueError(f"KNearestNeighbors: k={k} exceeds the {len(self.X_train_)} training examples")
        return int(k)


def vote_counts(neighbour_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Votes per class, ``(N, n_classes)``, from the class indices of each row's neighbours ``(N, k)``."""
    n = len(neighbour_labels)
    flat = (np.arange(n)[:, None] * n_classes + neighbour_labels).ravel()
    return np.bincount(flat, minlength=n * n_classes).reshape(n, n_classes)


def pairwise_distances(X: Any, Y: Any, distance: str = "l2") -> np.ndarray:
    """All distances between the rows of ``X`` (M, D) and ``Y`` (N, D) as an (M, N) array."""
    _check_distance(distance)
    X, Y = as_examples(X, "pairwise_distances", None), as_examples(Y, "pairwise_distances", None)
    if distance == "l1":
        return _l1_distances(*_l1_operands(X, Y))
    dtype = _float_type(X, Y)
    mean = _centre(Y, dtype)
    Xc, Yc = X.astype(dtype) - mean, Y.astype(dtype) - mean
    squared = _l2_partial(Xc, Yc, _row_norms(Yc)) + _row_norms(Xc)[:, None]
    return np.sqrt(np.maximum(squared, 0, out=squared), out=squared)


def _neighbours(
    X: np.ndarray,
    train: np.ndarray,
    k: int,
    distance: str,
    chunk_size: int | None,
    with_distances: bool,
    workers: int = 1,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(indices, distances) of the k nearest training rows, one chunk of test rows at a time."""
    if distance == "l2":
        dtype = _float_type(X, train)
        mean = _centre(train, dtype)
        train_centred = train.astype(dtype) - mean
        train_norms = _row_norms(train_centred)
    else:
        X, train = _l1_operands(X, train)
    rows = chunk_size or max(1, _CHUNK_BYTES // (4 * len(train)))
    for start in range(0, len(X), rows):
        chunk = X[start : start + rows]
        if distance == "l2":
            chunk = chunk.astype(dtype) - mean
            # ||x||^2 is the same for every training example: ranking does without it.
            scores = _l2_partial(chunk, train_centred, train_norms)
        else:
            scores = _l1_distances(chunk, train, workers)
        indices = k_smallest(scores, k)
        if not with_distances:
            yield indices, indices
            continue
        nearest = np.take_along_axis(scores, indices, axis=1)
        if distance == "l2":
            nearest = np.sqrt(np.maximum(nearest + _row_norms(chunk)[:, None], 0))
        yield indices, nearest


def k_smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k smallest values, in order, ties going to the smaller index.

    A full sort of 60,000 distances per test image would cost more than computing them. Instead the row is cut
    into blocks: the k smallest values all lie in the k blocks with the smallest minima (any value in another
    block has at least k block minima below it), so only those k blocks are sorted. Ordering blocks and
    candidates by (value, index) with stable sorts keeps the result exactly that of a stable full sort.
    """
    m, n = values.shape
    block = max(16, int(np.sqrt(n / k)))
    if k * block >= n // 2:
        return np.argsort(values, axis=1, kind="stable")[:, :k]
    starts = np.arange(0, n, block)
    minima = np.minimum.reduceat(values, starts, axis=1)
    blocks = np.sort(np.argsort(minima, axis=1, kind="stable")[:, :k], axis=1)
    columns = (starts[blocks][:, :, None] + np.arange(block)).reshape(m, -1)
    outside = columns >= n
    columns[outside] = n - 1
    candidates = np.take_along_axis(values, columns, axis=1)
    candidates[outside] = np.inf
    order = np.argsort(candidates, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(columns, order, axis=1)


def _l2_partial(X: np.ndarray, train: np.ndarray, train_norms: np.ndarray) -> np.ndarray:
    """||t||^2 - 2 x.t for every pair: the squared distance less ||x||^2, by one matrix product."""
    scores = (X * X.dtype.type(-2)) @ train.T
    scores += train_norms
    return scores


def _centre(train: np.ndarray, dtype: type) -> np.ndarray:
    """The point to measure from: the training mean in float32 (less cancellation), 0 in float64.

    For integer images the mean is rounded, so that integer pixels stay integers and exactly equal distances
    stay exactly equal, which is what makes the tie-breaking by index hold (float64 is exact for them as is).
    """
    if dtype == np.float64:
        return np.zeros(train.shape[1])
    mean = train.mean(axis=0, dtype=np.float64)
    return (np.round(mean) if train.dtype.kind in "biu" else mean).astype(dtype)


def _row_norms(X: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, X)


def _float_type(*arrays: np.ndarray) -> type:
    return np.float64 if any(a.dtype == np.float64 for a in arrays) else np.float32


def _l1_operands(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images in int16 (exact, half the traffic of float32); anything else in floating point."""
    if X.dtype == np.uint8 and Y.dtype == np.uint8:
        return X.astype(np.int16), Y.astype(np.int16)
    dtype = _float_type(X, Y)
    return X.astype(dtype, copy=False), Y.astype(dtype, copy=False)


def _l1_distances(
    X: np.ndarray, Y: np.ndarray, workers: int = 1, tile: tuple[int, int] = (16, 128)
) -> np.ndarray:
    """sum_d |x_d - y_d| for all pairs, over tiles of pairs small enough to stay in cache.

    NumPy releases the GIL inside each tile's operations, so ``workers`` threads, each filling its own rows
    of the result, run in parallel.
    """
    accumulate = np.int32 if X.dtype.kind == "i" else X.dtype
    out = np.empty((len(X), len(Y)), dtype=np.float32 if accumulate == np.int32 else accumulate)
    rows, cols = tile

    def fill(first: int, last: int) -> None:
        scratch = np.empty((rows, cols, X.shape[1]), dtype=X.dtype)
        for i in range(first, last, rows):
            a = X[i : min(i + rows, last), None, :]
            for j in range(0, len(Y), cols):
                b = Y[None, j : j + cols, :]
                difference = scratch[: a.shape[0], : b.shape[1]]
                np.subtract(a, b, out=difference)
                np.abs(difference, out=difference)
                out[i : i + a.shape[0], j : j + cols] = difference.sum(axis=2, dtype=accumulate)

    bounds = np.linspace(0, len(X), min(workers, len(X)) + 1).astype(int)
    if len(bounds) == 2:
        fill(0, len(X))
        return out
    with ThreadPoolExecutor(len(bounds) - 1) as pool:
        list(pool.map(fill, bounds[:-1], bounds[1:]))
    return out


def _check_distance(distance: str) -> None:
    if distance not in DISTANCES:
        raise ValueError(f"KNearestNeighbors: distance must be one of {DISTANCES}, got {distance!r}")


@dataclass
class CrossValidation:
    """The result of ``cross_validate_k``: the best (k, distance) and every fold's accuracy.

    ``accuracies[(distance, k)]`` holds one validation accuracy per fold; ``best_k`` and ``best_distance``
    maximize their mean (ties: the smaller k, then the distance listed first).
    """

    best_k: int
    best_distance: str
    accuracies: dict[tuple[str, int], np.ndarray] = field(repr=False)

    def mean_accuracy(self, distance: str, k: int) -> float:
        return float(self.accuracies[(distance, k)].mean())


def cross_validate_k(
    X: Any,
    y: Any,
    ks: Iterable[int] = (1, 3, 5, 8, 10, 12, 15, 20),
    distances: Sequence[str] = DISTANCES,
    folds: int = 5,
    shuffle: bool = False,
    random_state: int | None = None,
) -> CrossValidation:
    """Choose k and the distance by ``folds``-fold cross-validation on the training data only.

    The folds are those of scikit-learn's ``KFold(folds, shuffle=shuffle, random_state=random_state)``:
    consecutive slices (of a permutation, if ``shuffle``), the first ``N % folds`` of them one example larger.
    Each fold's neighbours are found once, for the largest k, and every smaller k reads a prefix of them.
    """
    X = as_examples(X, "cross_validate_k", None)
    classes, labels = np.unique(np.asarray(y), return_inverse=True)
    labels = labels.reshape(-1)
    ks = sorted(set(ks))
    for distance in distances:
        _check_distance(distance)
    order = np.random.default_rng(random_state).permutation(len(X)) if shuffle else np.arange(len(X))
    accuracies: dict[tuple[str, int], list[float]] = {(d, k): [] for d in distances for k in ks}
    for validation in np.array_split(order, folds):
        train = np.setdiff1d(order, validation, assume_unique=True)
        if max(ks) > len(train):
            raise ValueError(f"cross_validate_k: k={max(ks)} exceeds the {len(train)} examples of a fold")
        for distance in distances:
            parts = _neighbours(X[validation], X[train], max(ks), distance, None, with_distances=False)
            neighbour_labels = labels[train][np.concatenate([indices for indices, _ in parts])]
            for k in ks:
                predicted = vote_counts(neighbour_labels[:, :k], len(classes)).argmax(axis=1)
                accuracies[(distance, k)].append(float(np.mean(predicted == labels[validation])))
    scores = {key: np.array(values) for key, values in accuracies.items()}
    best_distance, best_k = max(
        scores, key=lambda key: (scores[key].mean(), -ks.index(key[1]), -distances.index(key[0]))
    )
    return CrossValidation(best_k=best_k, best_distance=best_distance, accuracies=scores)
