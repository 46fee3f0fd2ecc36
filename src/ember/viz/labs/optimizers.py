"""Lab ``optimizers``: SGD, momentum, Nesterov, AdaGrad, RMSprop and Adam racing on 2-D surfaces.

The lecture's pictures: on an ill-conditioned quadratic SGD zig-zags across the steep direction and crawls
along the shallow one; momentum builds up speed along it (and overshoots); AdaGrad, RMSprop and Adam scale
each coordinate by its own gradient history. At a saddle point the gradient vanishes and plain SGD stalls;
on a function with a local minimum momentum can roll through it; with noisy gradients the adaptive
methods and momentum average the noise. Every optimizer is Ember's (``ember.optim``) stepping a 2-vector.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ember import manual_seed, optim, randn, tensor
from ember.atomic import atomic_write
from ember.viz.labs.base import Lab
from ember.viz.style import LABEL_SIZE, TEXT_SIZE, TITLE_SIZE, color, new_figure, save_png

TITLE = "Optimizers racing on 2-D loss surfaces"
NEAR = 1e-3  # "reached the minimum": within this of the lowest loss


@dataclass
class Surface:
    name: str
    loss: Callable[[Any], Any]  # a (2,) tensor -> a scalar tensor (or an array -> array, for the contours)
    start: tuple[float, float]
    minimum: float
    box: tuple[float, float, float, float]  # x from, x to, y from, y to
    noise: float = 0.0


def quadratic(p: Any) -> Any:  # condition number 100: curvature 0.2 along x, 20 along y
    return 0.5 * (0.2 * p[0] * p[0] + 20 * p[1] * p[1])


def saddle(p: Any) -> Any:  # a saddle at (0, 0), minima at (0, ±1)
    return p[0] * p[0] + 0.25 * p[1] ** 4 - 0.5 * p[1] * p[1]


def two_minima(p: Any) -> Any:  # a local minimum near x = 0.9, the global one near x = -1.1
    return 0.25 * p[0] ** 4 - 0.5 * p[0] * p[0] + 0.25 * p[0] + 0.5 * p[1] * p[1]


SURFACES = [
    Surface("ill-conditioned quadratic", quadratic, (-1.8, 0.9), 0.0, (-2, 2, -1, 1)),
    Surface("saddle point", saddle, (-1.5, 1e-4), -0.25, (-2, 2, -1.5, 1.5)),
    Surface(
        "local minimum",
        two_minima,
        (2.0, 1.0),
        float(two_minima(np.array([-1.107, 0.0]))),
        (-2, 2.3, -1.2, 1.2),
    ),
    Surface("noisy gradients", quadratic, (-1.8, 0.9), 0.0, (-2, 2, -1, 1), noise=1.0),
]
OPTIMIZERS: dict[str, Callable[[list[Any]], optim.Optimizer]] = {
    "SGD": lambda p: optim.SGD(p, lr=0.09),  # near its largest stable rate on the quadratic (2 / 20)
    "momentum": lambda p: optim.SGD(p, lr=0.04, momentum=0.9),
    "Nesterov": lambda p: optim.SGD(p, lr=0.04, momentum=0.9, nesterov=True),
    "AdaGrad": lambda p: optim.Adagrad(p, lr=0.5),
    "RMSprop": lambda p: optim.RMSprop(p, lr=0.02),
    "Adam": lambda p: optim.Adam(p, lr=0.1),
}


def race(surface: Surface, name: str, steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(positions (steps + 1, 2), losses (steps + 1,)) of optimizer ``name`` from the surface's start."""
    manual_seed(seed)
    point = tensor(np.asarray(surface.start, dtype=np.float64), requires_grad=True)
    optimizer = OPTIMIZERS[name]([point])
    path, losses = [point.array.copy()], [float(surface.loss(point).item())]
    for _ in range(steps):
        optimizer.zero_grad()
        loss = surface.loss(point)
        if surface.noise:  # a random linear term: the gradient gets N(0, noise^2) added to each coordinate
            loss = loss + (randn(2, dtype=point.dtype) * surface.noise * point).sum()
        loss.backward()
        optimizer.step()
        path.append(point.array.copy())
        losses.append(float(surface.loss(point).item()))
    return np.asarray(path), np.asarray(losses)


def steps_to_minimum(surface: Surface, losses: np.ndarray) -> int | None:
    """The first step from which the loss stays within ``NEAR`` of the minimum (None: never)."""
    far = np.flatnonzero(losses - surface.minimum > NEAR)
    if len(far) == len(losses):
        return None
    return 0 if not len(far) else int(far[-1]) + 1 if far[-1] + 1 < len(losses) else None


def _contours(axes: Any, surface: Surface) -> None:
    x0, x1, y0, y1 = surface.box
    xs, ys = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    values = surface.loss(np.stack([xs, ys]))
    axes.contour(xs, ys, values, levels=25, colors="#bbbbbb", linewidths=0.7)
    axes.set_xlim(x0, x1)
    axes.set_ylim(y0, y1)
    axes.set_title(surface.name, fontsize=LABEL_SIZE)


def run(folder: Path, tiny: bool = False) -> Lab:
    steps = 100 if tiny else 200
    paths: dict[str, dict[str, np.ndarray]] = {}
    numbers: dict[str, Any] = {}
    for surface in SURFACES:
        paths[surface.name], numbers[surface.name] = {}, {}
        for name in OPTIMIZERS:
            path, losses = race(surface, name, steps)
            paths[surface.name][name] = path
            numbers[surface.name][name] = {
                "final_loss": float(losses[-1]),
                "mean_loss_last_30": float(losses[-30:].mean()),
                "final_point": path[-1].tolist(),
                "steps_to_minimum": steps_to_minimum(surface, losses),
            }
    figure = new_figure(16, 12)
    for axes, surface in zip(figure.subplots(2, 2).flat, SURFACES, strict=True):
        _contours(axes, surface)
        for k, (name, path) in enumerate(paths[surface.name].items()):
            reached = numbers[surface.name][name]["steps_to_minimum"]
            label = f"{name} ({'not reached' if reached is None else f'{reached} steps'})"
            axes.plot(path[:, 0], path[:, 1], "-", color=color(k), linewidth=1.6, label=label)
            axes.plot(*path[-1], "o", color=color(k), markersize=5)
        axes.plot(*surface.start, "k*", markersize=12)
        axes.legend(fontsize=TEXT_SIZE - 1, loc="lower right", title="steps to the minimum", title_fontsize=9)
    figure.suptitle(
        f"{steps} steps from the star; the minimum is reached when the loss stays within {NEAR:g}",
        fontsize=TITLE_SIZE,
    )
    picture = folder / "optimizers.png"
    save_png(figure, picture)
    animation = folder / "optimizers.gif"
    _animate(paths, animation, steps, frames=6 if tiny else 25)
    race_of = {surface.name: numbers[surface.name] for surface in SURFACES}
    reached = lambda surface, name: race_of[surface][name]["steps_to_minimum"]  # noqa: E731
    escaped = [name for name in OPTIMIZERS if reached("saddle point", name) is not None]
    rolled = [name for name in OPTIMIZERS if reached("local minimum", name) is not None]
    slowest = max(OPTIMIZERS, key=lambda name: reached("saddle point", name) or steps + 1)
    noisy = ", ".join(
        f"{name} {race_of['noisy gradients'][name]['mean_loss_last_30']:.3f}" for name in OPTIMIZERS
    )
    text = [
        "Ill-conditioned quadratic (curvature 0.2 along x, 20 along y), steps until the loss stays within "
        f"{NEAR:g} of the minimum: "
        + ", ".join(f"{name} {reached('ill-conditioned quadratic', name)}" for name in OPTIMIZERS)
        + ". SGD runs at 0.09, near its largest stable rate (2 / 20): the steep direction limits it, the "
        "shallow one makes it crawl; the adaptive methods scale each coordinate by its own gradients.",
        f"Saddle point (start just off the ridge): reached a minimum: {', '.join(escaped) or 'none'}; "
        f"slowest or stuck: {slowest}, whose steps shrink with the gradient near the saddle.",
        "Local minimum (start on the right of the bump): into the deeper valley: "
        f"{', '.join(rolled) or 'none'}; the others stop in the nearer, shallower minimum.",
        f"Noisy gradients (N(0, 1) added to each coordinate): mean loss over the last 30 steps: {noisy}.",
        "optimizers.gif animates the four races step by step (None: not reached within the steps run).",
    ]
    return Lab(TITLE, text, {"Trajectories over the loss contours": picture}, numbers, [animation])


def _animate(paths: dict[str, dict[str, np.ndarray]], path: Path, steps: int, frames: int) -> None:
    """The races as a GIF (matplotlib's Pillow writer), one frame every few steps; written atomically."""
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = new_figure(9, 6.75)
    FigureCanvasAgg(figure)
    lines = []
    for axes, surface in zip(figure.subplots(2, 2).flat, SURFACES, strict=True):
        _contours(axes, surface)
        for k, name in enumerate(paths[surface.name]):
            lines.append(
                (
                    axes.plot([], [], "-o", color=color(k), markersize=2, label=name)[0],
                    paths[surface.name][name],
                )
            )
        axes.legend(fontsize=8, loc="lower right")
    figure.canvas.draw()
    figure.set_layout_engine("none")  # laid out once: each frame only moves the lines
    stride = max(1, steps // frames)

    def frame(n: int) -> list[Any]:
        for line, track in lines:
            line.set_data(track[: n * stride + 1, 0], track[: n * stride + 1, 1])
        return [line for line, _ in lines]

    movie = FuncAnimation(figure, frame, frames=steps // stride + 1, blit=False)
    descriptor, temporary = tempfile.mkstemp(suffix=".gif")
    os.close(descriptor)
    try:
        movie.save(temporary, writer=PillowWriter(fps=8), dpi=70)
        atomic_write(path, Path(temporary).read_bytes())
    finally:
        os.unlink(temporary)
