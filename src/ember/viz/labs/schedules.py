"""Lab ``schedules``: every learning-rate schedule in ``ember.optim.lr_scheduler``, over the same 100 steps
from the same base rate 0.1 (``ReduceLROnPlateau`` watching a loss that stops improving at step 30)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ember import optim, zeros
from ember.optim import lr_scheduler as s
from ember.viz.labs.base import Lab
from ember.viz.style import TEXT_SIZE, TITLE_SIZE, color, new_figure, save_png

TITLE = "Learning-rate schedules"
BASE = 0.1
STEPS = 100


def _sequential(o: Any) -> Any:
    return s.SequentialLR(o, [s.LinearLR(o, 0.1, 1.0, 10), s.CosineAnnealingLR(o, 90)], milestones=[10])


def _chained(o: Any) -> Any:
    return s.ChainedScheduler([s.ExponentialLR(o, 0.98), s.StepLR(o, 40, 0.5)])


SCHEDULES: dict[str, Callable[[Any], Any]] = {
    "StepLR(step 30, ×0.1)": lambda o: s.StepLR(o, 30, 0.1),
    "MultiStepLR(40, 70; ×0.1)": lambda o: s.MultiStepLR(o, [40, 70], 0.1),
    "ExponentialLR(0.96)": lambda o: s.ExponentialLR(o, 0.96),
    "InverseTimeLR (1/t, 0.1)": lambda o: s.InverseTimeLR(o, 0.1),
    "InverseSqrtLR (1/√t)": lambda o: s.InverseSqrtLR(o),
    "ConstantLR(×1/3 for 20)": lambda o: s.ConstantLR(o, 1 / 3, 20),
    "LinearLR(0.1 → 1, 20)": lambda o: s.LinearLR(o, 0.1, 1.0, 20),
    "PolynomialLR(100, power 2)": lambda o: s.PolynomialLR(o, STEPS, 2.0),
    "CosineAnnealingLR(100)": lambda o: s.CosineAnnealingLR(o, STEPS),
    "CosineAnnealingWarmRestarts(25)": lambda o: s.CosineAnnealingWarmRestarts(o, 25),
    "CyclicLR(0.01-0.1, 20 up)": lambda o: s.CyclicLR(o, 0.01, BASE, 20),
    "OneCycleLR(max 0.1)": lambda o: s.OneCycleLR(o, BASE, total_steps=STEPS + 1),
    "LambdaLR(0.97^t)": lambda o: s.LambdaLR(o, lambda t: 0.97**t),
    "MultiplicativeLR(×0.98)": lambda o: s.MultiplicativeLR(o, lambda t: 0.98),
    "SequentialLR(warm-up, cosine)": _sequential,
    "ChainedScheduler(exp, step)": _chained,
    "ReduceLROnPlateau(patience 10)": lambda o: s.ReduceLROnPlateau(o, patience=10, factor=0.5),
}


def rates(name: str, steps: int = STEPS) -> np.ndarray:
    """The learning rate at each of ``steps + 1`` steps under schedule ``name`` (step 0 first)."""
    optimizer = optim.SGD([zeros(1, requires_grad=True)], lr=BASE, momentum=0.9)
    scheduler = SCHEDULES[name](optimizer)
    found = [optimizer.param_groups[0]["lr"]]
    for step in range(1, steps + 1):
        optimizer.step()
        if isinstance(scheduler, s.ReduceLROnPlateau):
            scheduler.step(max(1.0 - step / 30, 0.0))  # the loss stops improving at step 30
        else:
            scheduler.step()
        found.append(optimizer.param_groups[0]["lr"])
    return np.asarray(found)


def run(folder: Path, tiny: bool = False) -> Lab:
    numbers = {name: rates(name).tolist() for name in SCHEDULES}
    columns = 4
    rows = -(-len(SCHEDULES) // columns)
    figure = new_figure(16, 2.9 * rows)
    grid = figure.subplots(rows, columns)
    for k, (axes, (name, values)) in enumerate(zip(grid.flat, numbers.items(), strict=False)):
        axes.plot(range(len(values)), values, color=color(k), linewidth=2)
        axes.set_title(name, fontsize=TEXT_SIZE + 1)
        axes.set_ylim(0, BASE * 1.1)
        axes.grid(True, alpha=0.3)
        axes.set_xlabel("step", fontsize=TEXT_SIZE)
    for axes in grid.flat[len(SCHEDULES) :]:
        axes.set_axis_off()
    figure.suptitle(
        f"Every schedule in ember.optim.lr_scheduler: base rate {BASE}, {STEPS} steps", fontsize=TITLE_SIZE
    )
    picture = folder / "schedules.png"
    save_png(figure, picture)
    text = [
        f"{len(SCHEDULES)} schedules from ember.optim.lr_scheduler, each stepped once per step after "
        "optimizer.step(). Step decay, exponential and 1/t decay are the lectures' three; cosine, warm "
        "restarts, one-cycle and cyclic rates are the later practice; linear warm-up is used before "
        "large-batch training; ReduceLROnPlateau halves the rate when the watched loss stops improving "
        "(here after step 30 and patience 10).",
    ]
    return Lab(TITLE, text, {"The learning rate at every step": picture}, numbers)
