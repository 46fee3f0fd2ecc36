"""What every check shares: leaving the model as it was found, taking examples from a loader, training steps.

A check is an experiment on the user's own model, optimizer and loader, so each one runs inside
``preserved``: the weights and buffers (batch norm's running statistics), the optimizer's state and rates,
the loader's position and the random generators are put back afterwards, so that calling a check (or
``ember doctor``, or ``ember train --lr auto``) changes nothing about the training that follows.
``regularization_off`` is the lectures' "no regularization" for the checks that ask for it (initial loss,
overfitting a small sample): weight decay 0 and dropout off, batch norm left as it trains.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import ember
from ember import nn
from ember.autograd import Tensor
from ember.train.metrics import accuracy
from ember.train.trainer import Trainer, quiet_floats

Batch = tuple[Tensor, Tensor]


class Snapshot:
    """A copy of a model's weights and buffers, an optimizer's state, a loader's position and the random
    generators, to go back to (``restore``) as often as needed."""

    def __init__(self, model: nn.Module, optimizer: Any = None, loader: Any = None) -> None:
        self.model, self.optimizer, self.loader = model, optimizer, loader
        self.weights = {key: np.array(value.array, copy=True) for key, value in model.state_dict().items()}
        self.training = model.training
        self.optimizer_state = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
        self.loader_state = loader.state_dict() if hasattr(loader, "state_dict") else None
        self.rng = ember.get_rng_state(), np.random.get_state()  # noqa: NPY002 - the legacy global state too

    def restore(self) -> None:
        self.model.load_state_dict(self.weights)
        self.model.train(self.training)
        self.model.zero_grad()
        if self.optimizer is not None:
            self.optimizer.load_state_dict(self.optimizer_state)
            self.optimizer.zero_grad()
        if self.loader_state is not None:
            self.loader.load_state_dict(self.loader_state)
        ember.set_rng_state(self.rng[0])
        np.random.set_state(self.rng[1])  # noqa: NPY002


@contextlib.contextmanager
def preserved(model: nn.Module, optimizer: Any = None, loader: Any = None) -> Iterator[Snapshot]:
    """Restore ``model`` (parameters, buffers, mode), ``optimizer``, ``loader`` and the random state after."""
    snapshot = Snapshot(model, optimizer, loader)
    try:
        yield snapshot
    finally:
        snapshot.restore()


@contextlib.contextmanager
def regularization_off(model: nn.Module, optimizer: Any = None) -> Iterator[None]:
    """Dropout off (p = 0) and the optimizer's weight decay 0 for the block; both restored after."""
    dropouts = [(m, m.p) for m in model.modules() if isinstance(m, nn.Dropout | nn.Dropout2d)]
    groups = (
        [(g, g["weight_decay"]) for g in optimizer.param_groups if "weight_decay" in g] if optimizer else []
    )
    try:
        for module, _ in dropouts:
            module.p = 0.0
        for group, _ in groups:
            group["weight_decay"] = 0.0
        yield
    finally:
        for module, p in dropouts:
            module.p = p
        for group, decay in groups:
            group["weight_decay"] = decay


def split_batch(batch: Any) -> Batch:
    if not (isinstance(batch, list | tuple) and len(batch) == 2):
        raise TypeError(f"the doctor expects batches of (inputs, targets), got a {type(batch).__name__}")
    inputs, targets = batch
    return _tensor(inputs), _tensor(targets)


def _tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else ember.from_numpy(np.asarray(value))


def first_batches(loader: Any, count: int) -> list[Batch]:
    """The first ``count`` batches of one pass over ``loader`` (fewer if it has fewer)."""
    batches = []
    for batch in loader:
        batches.append(split_batch(batch))
        if len(batches) >= count:
            break
    if not batches:
        raise ValueError("the loader yielded no batches")
    return batches


def take_examples(loader: Any, count: int) -> Batch:
    """The first ``count`` examples of one pass over ``loader``, as one batch."""
    inputs, targets, taken = [], [], 0
    for batch in loader:
        x, y = split_batch(batch)
        inputs.append(x.array)
        targets.append(y.array)
        taken += len(y.array)
        if taken >= count:
            break
    if not inputs:
        raise ValueError("the loader yielded no batches")
    return (
        ember.from_numpy(np.concatenate(inputs)[:count]),
        ember.from_numpy(np.concatenate(targets)[:count]),
    )


def cycle(loader: Any) -> Iterator[Batch]:
    """The loader's batches, pass after pass, for as many steps as a check takes."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield split_batch(batch)
        if empty:
            raise ValueError("the loader yielded no batches")


def set_lr(optimizer: Any, lr: float, base: list[float]) -> None:
    """Set the first group's rate to ``lr`` and the others in proportion (``base``: the groups' own rates)."""
    for group, rate in zip(optimizer.param_groups, base, strict=True):
        group["lr"] = lr * rate / base[0] if base[0] else lr


def stepper(
    model: nn.Module, optimizer: Any, loss_fn: Any, penalty: Callable[[nn.Module], Tensor] | None = None
) -> Callable[[Tensor, Tensor], tuple[float, float]]:
    """One training step of the Trainer's loop (forward, loss, backward, update): (loss, accuracy)."""
    trainer = Trainer(model, optimizer, loss_fn, regularization=penalty)

    def step(inputs: Tensor, targets: Tensor) -> tuple[float, float]:
        model.train()
        with quiet_floats():
            scores, loss, _ = trainer.training_step(inputs, targets)
        value = float(loss.item())
        return value, (accuracy(scores, targets)[0] if math.isfinite(value) else 0.0)

    return step


def default_loss(loss_fn: Any) -> Any:
    return nn.CrossEntropyLoss() if loss_fn is None else loss_fn
