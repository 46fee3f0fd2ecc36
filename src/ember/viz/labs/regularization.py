"""Lab ``regularization``: a small MLP on a 2-D spiral, its decision boundary for L2 strength 0.001, 0.01 and
0.1 side by side (the lecture's figure, from the ConvNetJS demo it links; try ``ember lab playground``).

The loss is cross-entropy + (L2 / 2) * the sum of the squared weights (``ember.viz.classify2d``). Stronger
L2, smaller weights, a smoother boundary and a lower training accuracy: the network fits the spiral less
and generalizes a simpler rule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ember.viz import toy
from ember.viz.classify2d import Classifier2D, Settings
from ember.viz.labs.base import Lab
from ember.viz.style import LABEL_SIZE, TITLE_SIZE, color, new_figure, save_png

TITLE = "L2 regularization strength and the decision boundary"
STRENGTHS = (0.001, 0.01, 0.1)
RESOLUTION = 120


def boundaries(
    steps: int, dataset: str = "spiral", strengths: tuple[float, ...] = STRENGTHS
) -> list[Classifier2D]:
    """One trained classifier per L2 strength (same data, same initial weights)."""
    trained = []
    for l2 in strengths:
        classifier = Classifier2D(dataset, Settings(layers=2, width=32, activation="relu", lr=0.01, l2=l2))
        classifier.train(steps)
        trained.append(classifier)
    return trained


def run(folder: Path, tiny: bool = False) -> Lab:
    steps = 400 if tiny else 3000
    trained = boundaries(steps)
    figure = new_figure(16, 5.8)
    numbers = {}
    for axes, classifier in zip(figure.subplots(1, len(STRENGTHS)), trained, strict=True):
        field = classifier.field(RESOLUTION)
        l2 = classifier.settings.l2
        roughness = toy.roughness(classifier.field(40))
        numbers[str(l2)] = {"accuracy": classifier.accuracy, "loss": classifier.loss, "roughness": roughness}
        axes.imshow(field, extent=(-1, 1, -1, 1), cmap="RdBu_r", vmin=0, vmax=1, alpha=0.45)
        axes.contour(
            np.linspace(-1, 1, RESOLUTION), np.linspace(1, -1, RESOLUTION), field, levels=[0.5], colors="k"
        )
        for label in (0, 1):
            chosen = classifier.labels == label
            axes.scatter(
                *classifier.points[chosen].T,
                s=14,
                color=color(0 if label == 0 else 3),
                edgecolors="k",
                linewidths=0.4,
            )
        axes.set_title(
            f"L2 = {l2:g}: training accuracy {100 * classifier.accuracy:.0f}%", fontsize=LABEL_SIZE
        )
        axes.set_xticks([])
        axes.set_yticks([])
    figure.suptitle(
        f"2-layer ReLU MLP (32 units per layer), Adam, {steps} full-batch steps on the spiral",
        fontsize=TITLE_SIZE,
    )
    picture = folder / "regularization.png"
    save_png(figure, picture)
    text = [
        "Training accuracy and roughness (mean change of P(class 1) between neighbouring cells of a 40x40 "
        "grid) per L2 strength: "
        + "; ".join(f"{l2}: {100 * n['accuracy']:.0f}%, {n['roughness']:.4f}" for l2, n in numbers.items())
        + ". Stronger L2, smoother boundary, lower training accuracy; at the strongest the penalty can win "
        "outright: the weights shrink to zero and the network answers 50/50 everywhere.",
    ]
    return Lab(TITLE, text, {"Decision boundaries for three L2 strengths": picture}, numbers)
