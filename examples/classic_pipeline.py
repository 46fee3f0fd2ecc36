"""The lectures' first classifiers on MNIST: k-nearest neighbours, then linear SVM and softmax classifiers.

1. kNN. Training is memorizing; the hyperparameters (k, L1 or L2) are chosen by 5-fold cross-validation on
   the training subset, never on the test set, and the chosen model is scored once on test images.
2. Linear classifiers, f(x, W) = W x + b, trained by mini-batch SGD on the multiclass SVM loss and on the
   softmax loss, with L2 regularization, on all 60,000 training images.
3. The "visual viewpoint": each row of W is a template of its class. Both sets of templates are saved as
   one PNG image (matplotlib needed for that step).

    PYTHONPATH=src python examples/classic_pipeline.py [--out classic_templates.png] [--quick]

``--quick`` uses small subsets (a smoke test: seconds instead of a minute, lower accuracy).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ember.classic import KNearestNeighbors, LinearClassifier, cross_validate_k
from ember.data import MNIST

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=DATA, help="folder that holds mnist/ (default: the shared copy)")
    parser.add_argument("--out", default="classic_templates.png", help="where to save the templates image")
    parser.add_argument("--quick", action="store_true", help="small subsets, for a smoke test")
    args = parser.parse_args()

    train, test = MNIST(args.root, train=True), MNIST(args.root, train=False)
    images, labels = train.data, np.asarray(train.targets)  # uint8 (60000, 28, 28), int64 (60000,)
    test_images, test_labels = test.data, np.asarray(test.targets)
    rng = np.random.default_rng(0)

    # 1. kNN, with k and the distance chosen on validation folds of the training data.
    knn_train = rng.choice(len(images), 1000 if args.quick else 5000, replace=False)
    knn_test = rng.choice(len(test_images), 200 if args.quick else 1000, replace=False)
    start = time.perf_counter()
    cv = cross_validate_k(images[knn_train], labels[knn_train], ks=(1, 3, 5, 8, 10), folds=5)
    seconds = time.perf_counter() - start
    print(f"kNN, 5-fold cross-validation on {len(knn_train)} training images ({seconds:.1f} s)")
    print("   k   " + "   ".join(f"{d:>5}" for d in ("l1", "l2")))
    for k in (1, 3, 5, 8, 10):
        print(f"  {k:2d}   " + "   ".join(f"{cv.mean_accuracy(d, k):.3f}" for d in ("l1", "l2")))
    knn = KNearestNeighbors(cv.best_k, cv.best_distance).fit(images[knn_train], labels[knn_train])
    accuracy = knn.score(test_images[knn_test], test_labels[knn_test])
    print(
        f"  chosen: k={cv.best_k}, {cv.best_distance}; {len(knn_test)} test images: accuracy {accuracy:.3f}\n"
    )

    # 2. Linear classifiers with their defaults, on the pixels as they come (each feature is standardized
    # inside fit).
    n = 5000 if args.quick else len(images)
    models = {}
    for loss in ("svm", "softmax"):
        model = LinearClassifier(loss, random_state=0)
        if args.quick:
            model.set_params(epochs=3)
        start = time.perf_counter()
        model.fit(images[:n], labels[:n])
        seconds = time.perf_counter() - start
        print(
            f"linear {loss:<7}: {n} training images, {model.n_iter_} epochs in {seconds:.1f} s, "
            f"test accuracy {model.score(test_images, test_labels):.4f}"
        )
        models[loss] = model

    # 3. The learned templates, one row per loss, one column per digit.
    save_templates(models, args.out)
    print(f"\ntemplates saved to {args.out}")


def save_templates(models: dict[str, LinearClassifier], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(models), 10, figsize=(12, 1.5 * len(models) + 0.4))
    for row, (loss, model) in zip(axes, models.items(), strict=True):
        for digit, (axis, template) in enumerate(zip(row, model.template_images((28, 28)), strict=True)):
            axis.imshow(template, cmap="gray")
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(str(digit), fontsize=9)
        row[0].set_ylabel(loss, fontsize=10)
    figure.suptitle("Rows of W as images: the class templates of the linear classifiers", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    main()
