"""``ember demo``: train a two-layer network on the spiral data set with the bare engine, loss falling.

The cs231n toy problem: three interleaved spirals that no linear classifier separates. A hidden layer of
ReLUs learns them. Everything is done with tensors, autograd and a hand-written SGD step, so the demo shows
the engine alone: forward, softmax cross-entropy, backward, update.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import ember
from ember.cli.common import OK, guarded
from ember.cli.parser import whole_number

LINES = 10  # the loss is printed at 11 evenly spaced steps: the first, the last and 9 between


def spiral(points_per_class: int = 100, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, points_per_class), classes)
    labels = np.repeat(np.arange(classes), points_per_class)
    angle = np.concatenate([np.linspace(c * 4.0, (c + 1) * 4.0, points_per_class) for c in range(classes)])
    angle += rng.standard_normal(points_per_class * classes) * 0.2
    points = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return points.astype(np.float32), labels


def run(steps: int = 2000, hidden: int = 100, learning_rate: float = 1.0, reg: float = 1e-3) -> float:
    """Train for ``steps`` updates, printing the loss as it falls; returns the final training accuracy."""
    if steps < 1:
        raise ValueError(f"demo: steps must be at least 1, got {steps}")
    shown = {round(i * steps / LINES) for i in range(LINES + 1)}  # fewer lines if steps < 10
    ember.manual_seed(0)
    points, labels = spiral()
    x, y = ember.tensor(points), ember.tensor(labels)
    w1 = (ember.randn(2, hidden) * 0.01).requires_grad_()
    b1 = ember.zeros(hidden, requires_grad=True)
    w2 = (ember.randn(hidden, 3) * 0.01).requires_grad_()
    b2 = ember.zeros(3, requires_grad=True)
    params = [w1, b1, w2, b2]
    print(f"ember demo: 2-layer ReLU network ({hidden} hidden units) on 300 spiral points, 3 classes")
    accuracy = 0.0
    for step in range(steps + 1):  # step `steps` only measures the result of the last update
        scores = (x @ w1 + b1).relu() @ w2 + b2
        data_loss = -scores.log_softmax(1).gather(1, y.reshape(-1, 1)).mean()
        loss = data_loss + 0.5 * reg * ((w1 * w1).sum() + (w2 * w2).sum())
        if step in shown:
            accuracy = (scores.argmax(1) == y).float().mean().item()
            print(f"  step {step:4d}  loss {loss.item():.4f}  training accuracy {accuracy:.1%}")
        if step == steps:
            break
        for p in params:
            p.grad = None
        loss.backward()
        with ember.no_grad():
            for p in params:
                assert p.grad is not None
                p -= learning_rate * p.grad
    return accuracy


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("demo", help="train a small network with the bare engine, printing its loss")
    parser.add_argument(
        "--steps",
        type=whole_number(1),
        default=2000,
        metavar="N",
        help="gradient-descent updates (default 2000; the loss is printed 11 times along the way)",
    )
    parser.set_defaults(run=_main)


def _main(args: argparse.Namespace) -> int:
    def action() -> int:
        run(steps=args.steps)
        return OK

    return guarded("demo", action)
