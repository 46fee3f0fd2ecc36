"""Classic image classifiers and hand-made features: the lectures before deep networks.

k-nearest neighbours, linear classifiers with the multiclass SVM and softmax losses, the perceptron, binary
logistic regression, and two hand-made features (hue histogram, histogram of oriented gradients). The
classifiers follow scikit-learn's estimator conventions (``fit``, ``predict``, ``predict_proba``, ``score``,
``get_params`` / ``set_params``) so that they work with its model selection tools, but need only NumPy.
"""

from ember.classic.base import Classifier, NotFittedError
from ember.classic.features import color_histogram, hog, rgb_to_hue
from ember.classic.knn import CrossValidation, KNearestNeighbors, cross_validate_k, pairwise_distances
from ember.classic.linear import LinearClassifier, linear_loss, regularization, softmax_loss, svm_loss
from ember.classic.logistic import LogisticRegression
from ember.classic.perceptron import Perceptron

__all__ = [
    "Classifier",
    "CrossValidation",
    "KNearestNeighbors",
    "LinearClassifier",
    "LogisticRegression",
    "NotFittedError",
    "Perceptron",
    "color_histogram",
    "cross_validate_k",
    "hog",
    "linear_loss",
    "pairwise_distances",
    "regularization",
    "rgb_to_hue",
    "softmax_loss",
    "svm_loss",
]
