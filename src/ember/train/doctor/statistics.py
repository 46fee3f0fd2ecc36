"""Activation and gradient statistics per layer: the lectures' "let's look at some activation statistics".

The lecture's experiment (a 10-layer tanh network initialized with 0.01 * randn) prints each layer's mean
and standard deviation and plots their histograms: the standard deviation shrinks layer after layer until
"activations become zero!", and so do the gradients. ``layer_statistics`` runs the same measurement on any
model, through module hooks (``register_forward_hook`` for what each layer outputs,
``register_full_backward_hook`` for the gradient with respect to it), over a few real training steps:

- per layer: mean, standard deviation and a sample of the outputs (for the histograms); for ReLUs the
  share of *dead* units (never positive on any image of the batches: they pass no gradient, so they never
  recover); for sigmoid and tanh the share of *saturated* outputs (|tanh| > 0.99, sigmoid within 0.01 of 0
  or 1: "saturated neurons kill the gradients"); the size (RMS) of the gradient with respect to the output;
- per parameter: the norm of the weights and of their gradient, and, given an optimizer, the
  *update-to-weight ratio* ||update|| / ||W|| of each step, which the lecture's rule of thumb puts near 1e-3
  (much higher: the learning rate is too high; much lower: too low); parameters that are frozen
  (``requires_grad=False``), get no gradient (detached from the loss) or are not in the optimizer.

``Collector`` is the hook machinery on its own, shared with ``ember train --monitor`` (``Monitor``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ember import nn
from ember.autograd import Tensor
from ember.train.doctor.findings import Finding
from ember.train.doctor.state import default_loss, first_batches, preserved, stepper
from ember.train.trainer import quiet_floats

RECTIFIERS = (nn.ReLU,)
SQUASHING = (nn.Sigmoid, nn.Tanh)
SAMPLE = 2000  # outputs kept per layer and batch, for the histograms


@dataclass
class LayerStats:
    """What one layer output over the batches (``dead``/``saturated`` only for the layers they apply to)."""

    name: str
    kind: str
    mean: float
    std: float
    dead: float | None = None  # ReLUs: the share of units never positive
    saturated: float | None = None  # sigmoid, tanh: the share of outputs in the flat tails
    grad_rms: float | None = None  # the gradient with respect to the output (None: no gradient reached it)
    sample: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)


@dataclass
class ParameterStats:
    name: str
    shape: tuple[int, ...]
    weight_norm: float
    grad_norm: float | None  # None: no gradient reached it
    update_ratio: float | None  # ||update|| / ||W|| per step (mean over the steps); None without optimizer
    requires_grad: bool = True
    in_optimizer: bool = True

    @property
    def is_weight(self) -> bool:
        """A weight matrix or filter bank (the ratio rule is about these, not biases or BN scales)."""
        return len(self.shape) > 1


class _Accumulator:
    """Running sums of one layer's outputs and output gradients across batches."""

    def __init__(self, name: str, module: nn.Module, rng: np.random.Generator) -> None:
        self.name, self.kind, self.rng = name, type(module).__name__, rng
        self.rectifier, self.squashing = isinstance(module, RECTIFIERS), isinstance(module, SQUASHING)
        self.tanh = isinstance(module, nn.Tanh)
        self.count, self.total, self.squares, self.flat = 0, 0.0, 0.0, 0
        self.alive: np.ndarray | None = None
        self.grad_squares, self.grad_count = 0.0, 0
        self.samples: list[np.ndarray] = []

    def forward(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if not isinstance(output, Tensor) or output.array.dtype.kind != "f":
            return
        values = output.array
        flat = values.reshape(-1).astype(np.float64)
        self.count += flat.size
        self.total += float(flat.sum())
        self.squares += float(np.dot(flat, flat))
        if self.rectifier and values.ndim > 1:
            alive = np.asarray((values > 0).any(axis=0))
            self.alive = alive if self.alive is None else self.alive | alive
        if self.squashing:
            tails = np.abs(values) > 0.99 if self.tanh else (values < 0.01) | (values > 0.99)
            self.flat += int(tails.sum())
        take = min(SAMPLE, flat.size)
        self.samples.append(values.reshape(-1)[self.rng.integers(0, flat.size, take)])

    def backward(self, module: nn.Module, grad_input: Any, grad_output: Any) -> None:
        grad = grad_output[0] if grad_output else None
        if grad is not None:
            values = grad.array.reshape(-1).astype(np.float64)
            self.grad_squares += float(np.dot(values, values))
            self.grad_count += values.size

    def result(self) -> LayerStats:
        mean = self.total / max(self.count, 1)
        variance = max(self.squares / max(self.count, 1) - mean * mean, 0.0)
        return LayerStats(
            self.name,
            self.kind,
            mean,
            math.sqrt(variance),
            dead=float(1 - self.alive.mean()) if self.alive is not None else None,
            saturated=self.flat / max(self.count, 1) if self.squashing else None,
            grad_rms=math.sqrt(self.grad_squares / self.grad_count) if self.grad_count else None,
            sample=np.concatenate(self.samples) if self.samples else np.zeros(0, np.float32),
        )


class Collector:
    """Forward and full backward hooks on every leaf module of ``model`` (or those named in ``names``)."""

    def __init__(self, model: nn.Module, names: list[str] | None = None, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.accumulators: list[_Accumulator] = []
        self.handles: list[Any] = []
        for name, module in model.named_modules():
            if not name or next(module.children(), None) is not None or (names and name not in names):
                continue
            accumulator = _Accumulator(name, module, rng)
            self.accumulators.append(accumulator)
            self.handles.append(module.register_forward_hook(accumulator.forward))
            self.handles.append(module.register_full_backward_hook(accumulator.backward))

    def remove(self) -> list[LayerStats]:
        """Take the hooks off; the statistics gathered."""
        for handle in self.handles:
            handle.remove()
        return [accumulator.result() for accumulator in self.accumulators if accumulator.count]


class ParameterWatch:
    """Per parameter: weight and gradient norms after each step, and the step's update-to-weight ratio."""

    def __init__(self, model: nn.Module, optimizer: Any = None) -> None:
        self.named = list(model.named_parameters())
        self.optimizer = optimizer
        self.in_optimizer = (
            {id(p) for group in optimizer.param_groups for p in group["params"]} if optimizer else set()
        )
        self.grads: dict[str, list[float]] = {name: [] for name, _ in self.named}
        self.ratios: dict[str, list[float]] = {name: [] for name, _ in self.named}
        self.before: dict[str, np.ndarray] = {}

    def before_step(self) -> None:
        self.before = {name: np.array(p.array, copy=True) for name, p in self.named}

    def after_step(self) -> None:
        """Record the gradients (still on the parameters after the update) and the update of each."""
        for name, p in self.named:
            if p.grad is not None:
                self.grads[name].append(_norm(p.grad.array))
            if self.optimizer is not None and name in self.before:
                weight = _norm(self.before[name])
                self.ratios[name].append(_norm(p.array - self.before[name]) / weight if weight else math.inf)

    def result(self) -> list[ParameterStats]:
        return [
            ParameterStats(
                name,
                tuple(p.shape),
                _norm(p.array),
                float(np.mean(self.grads[name])) if self.grads[name] else None,
                float(np.mean(self.ratios[name])) if self.ratios[name] else None,
                p.requires_grad,
                id(p) in self.in_optimizer if self.optimizer is not None else True,
            )
            for name, p in self.named
        ]


def _norm(values: np.ndarray) -> float:
    flat = values.reshape(-1).astype(np.float64)
    return float(math.sqrt(np.dot(flat, flat)))


@dataclass
class LayerReport(Finding):
    """Per-layer and per-parameter statistics, with the findings read from them (``judge_layers``)."""

    layers: list[LayerStats] = field(default_factory=list)
    parameters: list[ParameterStats] = field(default_factory=list)
    input_std: float = math.nan


def layer_statistics(
    model: nn.Module,
    loader: Any,
    loss_fn: Any = None,
    optimizer: Any = None,
    *,
    batches: int = 3,
    penalty: Any = None,
) -> LayerReport:
    """Activation and gradient statistics of ``model`` over its first ``batches`` training steps.

    With ``optimizer`` the steps are real updates (and the update-to-weight ratios are measured); without,
    forward and backward only. The model runs in training mode; everything is restored afterwards.
    """
    from ember.train.doctor.reading import judge_layers

    loss_fn = default_loss(loss_fn)
    with preserved(model, optimizer, loader):
        data = first_batches(loader, batches)
        collector = Collector(model)
        watch = ParameterWatch(model, optimizer)
        step = stepper(model, optimizer, loss_fn, penalty) if optimizer is not None else None
        try:
            for x, y in data:
                watch.before_step()
                if step is not None:
                    step(x, y)
                else:
                    model.train()
                    model.zero_grad()
                    with quiet_floats():
                        loss_fn(model(x), y).backward()
                watch.after_step()
        finally:
            layers = collector.remove()
    input_std = float(np.std(np.concatenate([x.array.reshape(-1) for x, _ in data]).astype(np.float64)))
    report = LayerReport(
        "layer statistics", True, "", layers=layers, parameters=watch.result(), input_std=input_std
    )
    judge_layers(report, steps=len(data), images=sum(len(y.array) for _, y in data))
    return report
