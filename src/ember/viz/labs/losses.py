"""Lab ``losses``: the SVM (hinge) loss against the softmax (cross-entropy) loss as the correct class's
score grows, the other scores fixed (the lecture's "what if we double the correct class score?").

Once the correct score beats every other by the margin, the SVM loss is 0 and stays 0: doubling the score
changes nothing. The softmax loss is never 0; it keeps pushing the correct score up. Both computed by Ember's
losses: ``nn.MultiMarginLoss`` (averaged over the classes, as in PyTorch; the lecture sums, so its value is
the number of classes times this one) and ``nn.CrossEntropyLoss``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ember import nn, tensor
from ember.viz.labs.base import Lab
from ember.viz.style import LABEL_SIZE, TEXT_SIZE, TITLE_SIZE, color, new_figure, save_png

TITLE = "SVM vs softmax loss as the correct class's score grows"
OTHERS = (-2.0, 3.0)  # the other two classes' scores; class 0 is the correct one


def losses(correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(SVM loss, softmax loss) for each correct-class score, the other scores ``OTHERS``."""
    scores = np.column_stack([correct, np.broadcast_to(OTHERS, (len(correct), len(OTHERS)))])
    targets = tensor(np.zeros(len(correct), dtype=np.int64))
    svm = nn.MultiMarginLoss(reduction="none")(tensor(scores), targets).array
    softmax = nn.CrossEntropyLoss(reduction="none")(tensor(scores), targets).array
    return np.asarray(svm, dtype=np.float64), np.asarray(softmax, dtype=np.float64)


def run(folder: Path, tiny: bool = False) -> Lab:
    correct = np.linspace(-5, 25, 61 if tiny else 601)
    svm, softmax = losses(correct)
    (svm10, svm20), (soft10, soft20) = losses(np.asarray([10.0, 20.0]))
    figure = new_figure(12, 5.5)
    axes, log_axes = figure.subplots(1, 2)
    for target in (axes, log_axes):
        target.plot(correct, svm, color=color(0), linewidth=2.2, label="SVM (hinge, margin 1)")
        target.plot(correct, softmax, color=color(3), linewidth=2.2, label="softmax (cross-entropy)")
        for score in (10, 20):
            target.axvline(score, color="grey", linestyle=":")
        target.set_xlabel(
            f"score of the correct class (the others: {OTHERS[0]:g} and {OTHERS[1]:g})", fontsize=LABEL_SIZE
        )
        target.grid(True, alpha=0.3)
        target.legend(fontsize=TEXT_SIZE)
    axes.set_ylabel("loss", fontsize=LABEL_SIZE)
    log_axes.set_yscale("log")
    log_axes.set_ylim(1e-12, 20)
    log_axes.set_title("the same, log scale: softmax never reaches 0", fontsize=LABEL_SIZE)
    axes.set_title(
        f"at 10: SVM {svm10:.3g}, softmax {soft10:.2g}; at 20: SVM {svm20:.3g}, softmax {soft20:.2g}",
        fontsize=LABEL_SIZE,
    )
    figure.suptitle("What if we double the correct class's score from 10 to 20?", fontsize=TITLE_SIZE)
    picture = folder / "losses.png"
    save_png(figure, picture)
    numbers = {
        "svm_at_10": float(svm10), "svm_at_20": float(svm20),
        "softmax_at_10": float(soft10), "softmax_at_20": float(soft20),
        "correct": correct.tolist(), "svm": svm.tolist(), "softmax": softmax.tolist(),
    }  # fmt: skip
    text = [
        f"Scores (s, {OTHERS[0]:g}, {OTHERS[1]:g}) with class 0 correct. At s = 10 the SVM loss is {svm10:g} "
        f"and stays {svm20:g} at s = 20: the margin is met and the SVM is satisfied. The softmax loss goes "
        f"from {soft10:.3g} to {soft20:.3g}: smaller, never zero; it always wants the correct score higher.",
    ]
    return Lab(TITLE, text, {"Loss against the correct class's score": picture}, numbers)
