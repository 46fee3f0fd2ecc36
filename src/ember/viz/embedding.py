"""A layer's features in 2-D: PCA and t-SNE (scikit-learn's), the lectures' "AlexNet in 2D with t-SNE".

Images whose features are near each other in the layer land near each other on the map; coloured by class
(and with thumbnails), the map shows what the layer has learned to group.
"""

from __future__ import annotations

import numpy as np

METHODS = ("tsne", "pca")


def pca(features: np.ndarray) -> np.ndarray:
    """(N, 2): the features projected on their two principal components (scikit-learn's PCA)."""
    from sklearn.decomposition import PCA

    flat = features.reshape(len(features), -1).astype(np.float64)
    return PCA(n_components=2, svd_solver="full").fit_transform(flat)


def tsne(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, 2): scikit-learn's t-SNE of the features (PCA first to 50 dimensions, as van der Maaten advises;
    the perplexity is capped below the number of points)."""
    from sklearn.manifold import TSNE

    flat = features.reshape(len(features), -1).astype(np.float64)
    if flat.shape[1] > 50 and len(flat) > 50:
        from sklearn.decomposition import PCA

        flat = PCA(n_components=50, svd_solver="full", random_state=seed).fit_transform(flat)
    perplexity = min(perplexity, max(1.0, (len(flat) - 1) / 3))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(flat)


def embed(features: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """``pca`` or ``tsne`` of the features."""
    return pca(features) if method == "pca" else tsne(features, seed)


def neighbour_agreement(points: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """The share of points whose ``k`` nearest neighbours on the map mostly share their class: how well the
    map groups the classes (1.0: every neighbourhood is one class; about 1/classes: no grouping)."""
    distances = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return float(((labels[nearest] == labels[:, None]).mean(axis=1) > 0.5).mean())
