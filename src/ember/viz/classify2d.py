"""A small MLP classifying points in the plane, trained a few steps at a time: the engine of the playground
(``ember lab playground``) and of the regularization lab.

``Classifier2D`` holds the points, the settings (layers, width, activation, optimizer, learning rate, L2
strength), the network and its optimizer. ``train(steps)`` takes full-batch steps on
cross-entropy + (L2 / 2) * sum of the squared weights (the lectures' R(W); biases are not decayed);
``field(resolution)`` is P(class 1) over a grid of the plane, the picture of the decision boundary.
Settings are checked by ``check_settings``: a bad value raises ``SettingsError`` naming it and its range.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ember import manual_seed, nn, no_grad, optim, tensor
from ember.errors import EmberError
from ember.ops.softmax import softmax_array
from ember.viz import toy

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop", "adagrad")


class SettingsError(EmberError, ValueError):
    """A setting out of its range, or a request the playground cannot read."""


@dataclass
class Settings:
    layers: int = 2  # hidden layers
    width: int = 16
    activation: str = "tanh"
    optimizer: str = "adam"
    lr: float = 0.01
    l2: float = 0.0
    seed: int = 0


LIMITS = {"layers": (1, 6), "width": (1, 128), "lr": (1e-6, 10.0), "l2": (0.0, 10.0), "seed": (0, 2**31 - 1)}
CHOICES = {"activation": tuple(ACTIVATIONS), "optimizer": OPTIMIZERS}
LABELS = {
    "lr": "the learning rate (lr)",
    "l2": "the L2 strength (l2)",
    "layers": "hidden layers",
    "width": "width",
}


def check_settings(current: Settings, changes: dict[str, Any]) -> Settings:
    """``current`` with ``changes`` applied, each checked; one ``SettingsError`` for the first bad one."""
    known = {field.name for field in fields(Settings)}
    values = asdict(current)
    for name, value in changes.items():
        if name not in known:
            raise SettingsError(f"unknown setting '{name}'; the settings are {', '.join(sorted(known))}")
        if name in CHOICES:
            if value not in CHOICES[name]:
                raise SettingsError(f"{name} must be one of {', '.join(CHOICES[name])}, not {value!r}")
        else:
            kind = int if name in ("layers", "width", "seed") else float
            label = LABELS.get(name, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise SettingsError(f"{label} must be a number, not {value!r}")
            if kind is int and value != int(value):
                raise SettingsError(f"{label} must be a whole number, not {value!r}")
            low, high = LIMITS[name]
            if not low <= value <= high:
                raise SettingsError(f"{label} must be between {low:g} and {high:g}, not {value:g}")
            value = kind(value)
        values[name] = value
    return Settings(**values)


def build_model(settings: Settings) -> nn.Sequential:
    """2 -> [Linear -> activation] x layers -> Linear -> 2 logits, seeded."""
    manual_seed(settings.seed)
    layers: list[nn.Module] = []
    width = 2
    for _ in range(settings.layers):
        layers += [nn.Linear(width, settings.width), ACTIVATIONS[settings.activation]()]
        width = settings.width
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


def build_optimizer(settings: Settings, params: Any) -> optim.Optimizer:
    name, lr = settings.optimizer, settings.lr
    if name in ("sgd", "momentum"):
        return optim.SGD(params, lr=lr, momentum=0.9 if name == "momentum" else 0.0)
    return {"adam": optim.Adam, "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad}[name](params, lr=lr)


class Classifier2D:
    """The points, the settings and the network being trained on them."""

    def __init__(self, dataset: str = "spiral", settings: Settings | None = None, count: int = 200) -> None:
        self.settings = settings or Settings()
        self.points, self.labels = toy.make_points(dataset, count, seed=self.settings.seed)
        self.dataset = dataset
        self.loss_function = nn.CrossEntropyLoss()
        self.networks = 0  # how many networks have been built (a page can tell a new one by it)
        self.reset()

    def reset(self) -> None:
        """A new network (from the seed) and optimizer; the step count starts again."""
        self.networks += 1
        self.model = build_model(self.settings)
        self.optimizer = build_optimizer(self.settings, self.model.parameters())
        self.steps, self.loss, self.accuracy, self.diverged = 0, float("nan"), float("nan"), False

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply checked settings: a new network if its shape or seed changed, else a new optimizer only
        (the learning rate, optimizer and L2 strength change on the fly, as in ConvNetJS)."""
        before = self.settings
        self.settings = check_settings(before, changes)
        shape = ("layers", "width", "activation", "seed")
        if any(getattr(before, name) != getattr(self.settings, name) for name in shape):
            self.reset()
        else:
            self.optimizer = build_optimizer(self.settings, self.model.parameters())

    def load(self, dataset: str, count: int = 200) -> None:
        self.points, self.labels = toy.make_points(dataset, count, seed=self.settings.seed)
        self.dataset = dataset
        self.reset()

    def add_point(self, x: float, y: float, label: int) -> None:
        if label not in (0, 1) or not (-1 <= x <= 1 and -1 <= y <= 1):
            raise SettingsError(
                f"a point needs x and y in [-1, 1] and a class 0 or 1, not ({x}, {y}, {label})"
            )
        self.points = np.concatenate([self.points, np.asarray([[x, y]], dtype=np.float32)])
        self.labels = np.concatenate([self.labels, np.asarray([label], dtype=np.int64)])

    def penalty(self) -> Any:
        """(L2 / 2) * the sum of the squared weights (not the biases)."""
        weights = [module.weight for module in self.model.modules() if isinstance(module, nn.Linear)]
        return sum(((w * w).sum() for w in weights), tensor(0.0)) * (self.settings.l2 / 2)

    def train(self, steps: int) -> None:
        """``steps`` full-batch steps; a non-finite loss re-initializes the network and sets ``diverged``."""
        if not len(self.points):
            return
        x, y = tensor(self.points), tensor(self.labels)
        self.model.train()
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging loss is caught below
            self._steps(x, y, steps)

    def _steps(self, x: Any, y: Any, steps: int) -> None:
        for _ in range(steps):
            self.optimizer.zero_grad()
            scores = self.model(x)
            loss = self.loss_function(scores, y) + self.penalty()
            value = float(loss.item())
            if not math.isfinite(value):
                self.reset()
                self.diverged = True
                return
            loss.backward()
            self.optimizer.step()
            self.steps += 1
            self.loss = value
            self.accuracy = float((scores.array.argmax(1) == self.labels).mean())

    def field(self, resolution: int = 40) -> np.ndarray:
        """(resolution, resolution) P(class 1) over [-1, 1]^2, top row first."""
        with no_grad():
            scores = self.model(tensor(toy.grid(resolution))).array
        return softmax_array(scores.astype(np.float64), 1)[:, 1].reshape(resolution, resolution)
