"""Lab ``init``: "what happens to the activations" in a 10-layer net of 500 units (the lecture's experiment).

Unit-Gaussian data goes through 10 fully connected layers. With weights N(0, 0.01^2) and tanh, every
layer's output shrinks towards 0 (the gradients too: nothing learns); with N(0, 1) the tanh units saturate
at -1 and 1 (local gradients 0); Xavier (std 1/sqrt(fan_in); Glorot and Bengio 2010) keeps tanh's
activations spread; Kaiming (std sqrt(2/fan_in); He et al. 2015) does the same for ReLU, which Xavier
would halve at every layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ember import manual_seed, nn, no_grad, randn
from ember.viz.labs.base import Lab
from ember.viz.style import LABEL_SIZE, TEXT_SIZE, TITLE_SIZE, color, new_figure, save_png

TITLE = "Weight initialization: activation statistics per layer"
SCHEMES = {  # name -> (initializer of a Linear weight, activation)
    "N(0, 0.01²), tanh": (lambda w: nn.init.normal_(w, 0.0, 0.01), nn.Tanh),
    "N(0, 1), tanh": (lambda w: nn.init.normal_(w, 0.0, 1.0), nn.Tanh),
    "Xavier, tanh": (lambda w: nn.init.xavier_normal_(w), nn.Tanh),
    "Kaiming, ReLU": (lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"), nn.ReLU),
}


def layer_outputs(
    scheme: str, layers: int = 10, units: int = 500, examples: int = 1000, seed: int = 0
) -> list[np.ndarray]:
    """Each layer's activations for unit-Gaussian input, under initialization ``scheme`` (biases 0)."""
    initialize, activation = SCHEMES[scheme]
    manual_seed(seed)
    x = randn(examples, units)
    outputs = []
    with no_grad():
        for _ in range(layers):
            linear = nn.Linear(units, units)
            initialize(linear.weight)
            nn.init.zeros_(linear.bias)
            x = activation()(linear(x))
            outputs.append(x.array.copy())
    return outputs


def run(folder: Path, tiny: bool = False) -> Lab:
    units, examples = (100, 200) if tiny else (500, 1000)
    numbers: dict[str, Any] = {}
    figure = new_figure(17, 12)
    top, bottom = figure.subfigures(2, 1, height_ratios=[4, 1.5])
    grid = top.subplots(len(SCHEMES), 10)
    for row, scheme in enumerate(SCHEMES):
        outputs = layer_outputs(scheme, 10, units, examples)
        stds = [float(o.std()) for o in outputs]
        numbers[scheme] = {"mean": [float(o.mean()) for o in outputs], "std": stds}
        for layer, (axes, values) in enumerate(zip(grid[row], outputs, strict=True)):
            low, high = (-1, 1) if "tanh" in scheme else (0, max(float(values.max()), 1e-12))
            axes.hist(values.ravel(), bins=40, range=(low, high), color=color(row))
            axes.set_yticks([])
            axes.tick_params(labelsize=8)
            axes.set_title(f"layer {layer + 1}: std {stds[layer]:.2g}", fontsize=9)
        grid[row, 0].set_ylabel(scheme, fontsize=TEXT_SIZE)
    top.suptitle(
        f"10 layers of {units} units, unit-Gaussian input: activation histograms", fontsize=TITLE_SIZE
    )
    mean_axes, std_axes = bottom.subplots(1, 2)
    for row, scheme in enumerate(SCHEMES):
        mean_axes.plot(range(1, 11), numbers[scheme]["mean"], "o-", color=color(row), label=scheme)
        std_axes.semilogy(range(1, 11), numbers[scheme]["std"], "o-", color=color(row), label=scheme)
    for axes, name in ((mean_axes, "mean"), (std_axes, "standard deviation (log scale)")):
        axes.set_xlabel("layer", fontsize=LABEL_SIZE)
        axes.set_title(f"{name} of the activations per layer", fontsize=LABEL_SIZE)
        axes.grid(True, alpha=0.3)
    std_axes.legend(fontsize=TEXT_SIZE, loc="lower left")
    picture = folder / "init.png"
    save_png(figure, picture)
    last = {scheme: numbers[scheme]["std"][-1] for scheme in SCHEMES}
    saturated = float((np.abs(layer_outputs("N(0, 1), tanh", 10, units, examples)[-1]) > 0.99).mean())
    numbers["saturated_share_layer_10_N(0,1)"] = saturated
    text = [
        f"Layer-10 standard deviation: N(0, 0.01²) + tanh {last['N(0, 0.01²), tanh']:.2g} (the activations "
        "collapse to 0, and so do the gradients); N(0, 1) + tanh "
        f"{last['N(0, 1), tanh']:.2f} with {100 * saturated:.0f}% of the units saturated at ±1 "
        "(local gradient 0); "
        f"Xavier + tanh {last['Xavier, tanh']:.2f}; Kaiming + ReLU {last['Kaiming, ReLU']:.2f}.",
        "Xavier keeps tanh's activations spread over the ten layers, shrinking slowly; ReLU zeroes half of "
        "its inputs, halving the variance at every layer, which Kaiming's factor 2 makes up for.",
    ]
    return Lab(TITLE, text, {"Activations per layer for four initializations": picture}, numbers)
