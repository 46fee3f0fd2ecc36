"""The classic classifiers on full MNIST, against PyTorch and scikit-learn in one process.

kNN prediction, 10,000 test x 60,000 training images (784 uint8 pixels), k = 3:

- L2: Ember (expanded square, one float32 GEMM per chunk) against PyTorch (``torch.cdist`` in its
  matrix-product mode, then ``topk``, in chunks of the same size) and scikit-learn's brute-force
  ``KNeighborsClassifier``, on float32 pixels / 255; Ember also on the raw uint8 images.
- L1: Ember on uint8 images (int16 tiles), with one and with all cores. The peers (``torch.cdist(p=1)``,
  scikit-learn's manhattan brute force) are timed on the first ``--l1-peer-rows`` test images only and the
  time scaled to 10,000, since each takes minutes on the full set; the row says so.

Linear classifiers: Ember's softmax classifier against scikit-learn's ``LogisticRegression`` (L-BFGS, C = 1,
the same objective: mean cross-entropy + ||W||^2 / (2 C N)) on all 60,000 training images, test accuracy and
training time; and Ember's linear SVM.

The machine may be shared and noisy: times are the best of ``--repeats`` runs (kNN runs are long enough that
one is the default), and each row also gives the processor time of all the process's threads together, which
other users' load inflates far less than the wall-clock time. Prints a table, writes JSON to
``benchmarks/results/bench_classic.json``.

    PYTHONPATH=src python benchmarks/bench_classic.py [--repeats 1] [--sections l2,l1,linear]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ember.classic import KNearestNeighbors, LinearClassifier
from ember.data import MNIST

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
K = 3
CHUNK = 1000  # test rows per chunk, for Ember (about its default for 60,000 training rows) and torch


CPU_SECONDS: list[float] = []  # the processor time of the last best_of, all threads together


def best_of(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """Best wall-clock time over ``repeats`` runs (and its processor time in CPU_SECONDS), and the result."""
    times, result = [], None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        result = run()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    wall, cpu = min(times)
    CPU_SECONDS[:] = [cpu]
    return wall, result


def torch_knn(train: np.ndarray, labels: np.ndarray, test: np.ndarray, p: float) -> np.ndarray:
    train_t, labels_t = torch.from_numpy(train), torch.from_numpy(labels)
    predictions = []
    with torch.no_grad():
        for start in range(0, len(test), CHUNK):
            distances = torch.cdist(torch.from_numpy(test[start : start + CHUNK]), train_t, p=p)
            nearest = distances.topk(K, dim=1, largest=False).indices
            votes = torch.nn.functional.one_hot(labels_t[nearest], 10).sum(dim=1)
            predictions.append(votes.argmax(dim=1))  # first maximum: the smallest label, as Ember
    return torch.cat(predictions).numpy()


def sklearn_knn(train: np.ndarray, labels: np.ndarray, test: np.ndarray, metric: str) -> np.ndarray:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(K, metric=metric, algorithm="brute").fit(train, labels).predict(test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--l1-peer-rows", type=int, default=500)
    parser.add_argument(
        "--sections", default="l2,l1,linear", help="comma-separated: l2 (kNN L2), l1 (kNN L1), linear"
    )
    args = parser.parse_args()

    train_set, test_set = MNIST(DATA, train=True), MNIST(DATA, train=False)
    train_u8, test_u8 = train_set.data.reshape(60000, -1), test_set.data.reshape(10000, -1)
    y_train, y_test = np.asarray(train_set.targets), np.asarray(test_set.targets)
    train_f32, test_f32 = train_u8.astype(np.float32) / 255, test_u8.astype(np.float32) / 255
    rows: list[dict[str, Any]] = []

    def record(task: str, who: str, seconds: float, predictions: np.ndarray | None, note: str = "") -> None:
        accuracy = None if predictions is None else float(np.mean(predictions == y_test[: len(predictions)]))
        cpu = CPU_SECONDS[0]
        if note:  # scaled rows: scale the processor time alike
            cpu *= len(y_test) / args.l1_peer_rows
        rows.append(
            {
                "task": task,
                "who": who,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "accuracy": accuracy,
                "note": note,
            }
        )
        shown = "" if accuracy is None else f"{accuracy:.4f}"
        print(f"{task:<26} {who:<36} {seconds:8.1f} s {cpu:8.1f} s  {shown:>7}  {note}", flush=True)

    print(f"{'task':<26} {'who':<36} {'wall':>10} {'CPU':>10}  {'acc.':>7}")
    sections = set(args.sections.split(","))
    if "l2" in sections:
        task = "kNN L2 10k x 60k, k=3"
        ember_l2 = KNearestNeighbors(K, "l2", chunk_size=CHUNK)
        seconds, predicted = best_of(args.repeats, lambda: ember_l2.fit(train_f32, y_train).predict(test_f32))
        record(task, "ember float32", seconds, predicted)
        ember_reference = predicted
        seconds, predicted = best_of(args.repeats, lambda: ember_l2.fit(train_u8, y_train).predict(test_u8))
        record(task, "ember uint8 images", seconds, predicted)
        seconds, predicted = best_of(args.repeats, lambda: torch_knn(train_f32, y_train, test_f32, 2.0))
        record(task, f"torch cdist+topk ({torch.get_num_threads()} threads)", seconds, predicted)
        agree = float(np.mean(predicted == ember_reference))
        seconds, predicted = best_of(
            args.repeats, lambda: sklearn_knn(train_f32, y_train, test_f32, "euclidean")
        )
        record(task, "sklearn brute", seconds, predicted)
        agree_sklearn = float(np.mean(predicted == ember_reference))
        print(
            f"  same predictions as torch for {agree:.4%}, as sklearn for {agree_sklearn:.4%} of test images"
        )

    if "l1" in sections:
        task = "kNN L1 10k x 60k, k=3"
        for jobs in (1, -1):
            model = KNearestNeighbors(K, "l1", n_jobs=jobs)
            seconds, predicted = best_of(1, lambda model=model: model.fit(train_u8, y_train).predict(test_u8))
            record(task, f"ember uint8, n_jobs={jobs} ({os.cpu_count()} cores)", seconds, predicted)
        rows_l1 = args.l1_peer_rows
        scale = len(test_u8) / rows_l1
        note = f"timed on {rows_l1} test images, x{scale:g}"
        seconds, predicted = best_of(1, lambda: torch_knn(train_f32, y_train, test_f32[:rows_l1], 1.0))
        record(task, "torch cdist(p=1)+topk", seconds * scale, predicted, note)
        seconds, predicted = best_of(
            1, lambda: sklearn_knn(train_f32, y_train, test_f32[:rows_l1], "manhattan")
        )
        record(task, "sklearn brute manhattan", seconds * scale, predicted, note)

    if "linear" in sections:
        from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

        mean = train_f32.mean(axis=0)
        X_train, X_test = train_f32 - mean, test_f32 - mean
        task = "linear, MNIST 60k"
        settings = dict(  # sklearn's objective with C = 1: no standardization, reg = 1 / (2 C N)
            reg=1 / (2 * 60000), epochs=15, momentum=0.9, lr_decay=0.85, standardize=False, random_state=0
        )
        softmax = LinearClassifier("softmax", lr=0.05, **settings)
        seconds, _ = best_of(args.repeats, lambda: softmax.fit(X_train, y_train))
        record(task, "ember softmax, SGD 15 epochs", seconds, softmax.predict(X_test))
        svm = LinearClassifier("svm", lr=0.005, **settings)
        seconds, _ = best_of(args.repeats, lambda: svm.fit(X_train, y_train))
        record(task, "ember SVM, SGD 15 epochs", seconds, svm.predict(X_test))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # L-BFGS stops at max_iter=100, its default, with a warning
            sklearn_model = SklearnLogisticRegression(C=1.0)
            seconds, _ = best_of(1, lambda: sklearn_model.fit(X_train, y_train))
        record(task, "sklearn LogisticRegression lbfgs", seconds, sklearn_model.predict(X_test))

    out = Path(__file__).resolve().parent / "results" / "bench_classic.json"
    out.parent.mkdir(exist_ok=True)
    meta = {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
