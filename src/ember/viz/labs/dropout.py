"""Lab ``dropout``: the lecture's two implementations give the same expected activations, and dropout is an
ensemble whose average approaches the scaled network.

A 3-layer ReLU network with random weights and ``p = 0.5`` the probability of *keeping* a unit (the
lecture's convention; ``nn.Dropout(1 - p)`` in PyTorch's). Vanilla dropout masks at training time and
multiplies by ``p`` at test time; inverted dropout (``ember.nn.Dropout``) divides by ``p`` at training time
and does nothing at test time. The first hidden layer's expected activation is the same in both; averaged
over many masks, the network's output approaches the scaled (test-time) network's: the ensemble of the
2^units thinned networks, approximated by one pass (exact for a linear network, close for ReLU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ember import manual_seed, nn, no_grad, tensor
from ember.viz.labs.base import Lab
from ember.viz.style import LABEL_SIZE, TEXT_SIZE, TITLE_SIZE, color, new_figure, save_png

TITLE = "Dropout: inverted vs test-time scaling, and dropout as an ensemble"
KEEP = 0.5


def weights(units: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))
        for fan_in, fan_out in ((10, units), (units, units), (units, 1))
    ]


def vanilla(
    x: np.ndarray, w: list[np.ndarray], rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """(first hidden layer, output): masks at training time (``rng`` given), times ``KEEP`` at test time."""
    h1 = np.maximum(0, x @ w[0])
    h1 = h1 * (rng.random(h1.shape) < KEEP) if rng is not None else h1 * KEEP
    h2 = np.maximum(0, h1 @ w[1])
    h2 = h2 * (rng.random(h2.shape) < KEEP) if rng is not None else h2 * KEEP
    return h1, h2 @ w[2]


def inverted(x: np.ndarray, w: list[np.ndarray], training: bool) -> tuple[np.ndarray, np.ndarray]:
    """The network with ``ember.nn.Dropout(1 - KEEP)``: kept units / KEEP in training, identity in eval."""
    drop = nn.Dropout(1 - KEEP).train(training)
    with no_grad():
        h1 = drop(tensor(np.maximum(0, x @ w[0])))
        h2 = drop(tensor(np.maximum(0, h1.array @ w[1])))
    return h1.array, h2.array @ w[2]


def ensemble(masks: int, units: int = 100, examples: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Relative errors of the running means over 1..``masks`` masks against the test-time network."""
    manual_seed(seed)
    rng = np.random.default_rng(seed + 1)
    w = weights(units, seed)
    x = np.random.default_rng(seed + 2).normal(size=(examples, 10))
    test_h1, test_out = vanilla(x, w, None)
    inverted_h1, inverted_out = inverted(x, w, training=False)
    sums: dict[str, Any] = {key: 0.0 for key in ("vanilla_h1", "vanilla_out", "inverted_h1", "inverted_out")}
    errors: dict[str, list[float]] = {key: [] for key in sums}
    for n in range(1, masks + 1):
        h1, out = vanilla(x, w, rng)
        ih1, iout = inverted(x, w, training=True)
        sums["vanilla_h1"] += h1
        sums["vanilla_out"] += out
        sums["inverted_h1"] += ih1 * KEEP  # in vanilla's units (inverted's test time is unscaled)
        sums["inverted_out"] += iout * KEEP**2
        for key, total in sums.items():
            reference = test_h1 if key.endswith("h1") else test_out
            errors[key].append(float(np.abs(total / n - reference).mean() / np.abs(reference).mean()))
    return {
        **{key: np.asarray(values) for key, values in errors.items()},
        "test_time_equal": np.asarray(
            np.allclose(inverted_h1 * KEEP, test_h1) and np.allclose(inverted_out * KEEP**2, test_out)
        ),
    }


def run(folder: Path, tiny: bool = False) -> Lab:
    masks = 200 if tiny else 3000
    found = ensemble(masks)
    figure = new_figure(13, 5.5)
    layer_axes, output_axes = figure.subplots(1, 2)
    counts = np.arange(1, masks + 1)
    for axes, layer, name in (
        (layer_axes, "h1", "first hidden layer (exact in expectation)"),
        (output_axes, "out", "network output (through two ReLUs: an approximation)"),
    ):
        axes.loglog(
            counts, found[f"vanilla_{layer}"], color=color(0), label="vanilla: mask, then ×p at test time"
        )
        axes.loglog(
            counts, found[f"inverted_{layer}"], color=color(3), label="inverted: mask / p (ember.nn.Dropout)"
        )
        axes.loglog(
            counts, found[f"vanilla_{layer}"][0] / np.sqrt(counts), "--", color="grey", label="1/√masks"
        )
        axes.set_xlabel("masks averaged", fontsize=LABEL_SIZE)
        axes.set_ylabel("relative error vs the test-time network", fontsize=LABEL_SIZE)
        axes.set_title(name, fontsize=LABEL_SIZE)
        axes.grid(True, alpha=0.3, which="both")
        axes.legend(fontsize=TEXT_SIZE)
    figure.suptitle(
        f"Dropout (keep p = {KEEP}) averaged over masks approaches the scaled network", fontsize=TITLE_SIZE
    )
    picture = folder / "dropout.png"
    save_png(figure, picture)
    numbers = {key: float(values[-1]) for key, values in found.items() if key != "test_time_equal"}
    numbers["masks"] = masks
    numbers["test_time_equal"] = bool(found["test_time_equal"])
    text = [
        f"Test time: vanilla dropout's scaled network and inverted dropout's unscaled one give the same "
        f"activations (up to the factor p per layer): {numbers['test_time_equal']}.",
        f"After {masks} masks the mean first-layer activation is within {100 * numbers['vanilla_h1']:.1f}% "
        f"(vanilla) and {100 * numbers['inverted_h1']:.1f}% (inverted) of the test-time one, shrinking as "
        "1/√masks: the expectation is exactly the scaled activation. The output's average stays "
        f"{100 * numbers['vanilla_out']:.1f}% away: through the ReLU the scaled network approximates the "
        "ensemble's mean, it does not equal it.",
    ]
    return Lab(TITLE, text, {"Averaging dropout masks": picture}, numbers)
