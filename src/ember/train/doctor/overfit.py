"""Step 3 of the checklist: "try a small portion of data, check you can overfit", with a label control.

With regularization off (weight decay 0, dropout off), a network that can learn at all drives its training
accuracy on a few dozen examples to 100% within a hundred or so full-batch steps. If it cannot:

- "loss explodes to NaN" (or to ten times its start): the learning rate is too high (or the initialization
  bad);
- "loss not going down": the learning rate is too low, or a part of the network is frozen
  (``requires_grad=False``), detached from the loss, or left out of the optimizer; all three are listed;
- otherwise it learns too slowly for the budget: a higher rate, or more steps.

Fitting is not enough: a network memorizes random labels too (Zhang et al. 2017, "Understanding deep
learning requires rethinking generalization"). So the control: the same training on the same images with
their labels shuffled. Trained on real labels, the network predicts held-out examples far better than
chance; trained on shuffled ones, at chance. If the real labels do no better than the control, the labels
do not match the images: a bug in the data pipeline (labels shuffled apart from their images, the wrong
label file, an augmentation that changes the class).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ember
from ember import nn
from ember.autograd import Tensor
from ember.train.doctor.findings import Finding, percent, rate
from ember.train.doctor.state import (
    Snapshot,
    default_loss,
    preserved,
    regularization_off,
    stepper,
    take_examples,
)
from ember.train.metrics import accuracy
from ember.train.trainer import predict

SIGNAL_MARGIN = 4.0  # standard errors above the control's held-out accuracy
EXPLODED = 10.0  # a loss ten times its start has exploded, even if it comes down again


@dataclass
class FitRun:
    """One training run on the sample: loss and accuracy per step (before the step's update)."""

    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    fitted_at: int | None = None  # the first step whose forward pass classified every example right
    held_out_accuracy: float = math.nan

    @property
    def diverged(self) -> bool:
        return bool(self.losses) and not math.isfinite(self.losses[-1])


def _fit(step: Any, x: Tensor, y: Tensor, max_steps: int, target: float, stop_early: bool = True) -> FitRun:
    run = FitRun()
    for number in range(1, max_steps + 1):
        loss, accuracy = step(x, y)
        run.losses.append(loss)
        run.accuracies.append(accuracy)
        if not math.isfinite(loss) or loss > EXPLODED * run.losses[0]:
            break
        if accuracy >= target and run.fitted_at is None:
            run.fitted_at = number
            if stop_early:
                break
    return run


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    if not len(y.array):
        return math.nan
    return accuracy(predict(model, x, batch_size=len(y.array)), y)[0]


def _untrained_parameters(model: nn.Module, optimizer: Any) -> list[str]:
    """Parameters the training never changes: frozen, detached from the loss, or not in the optimizer."""
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    found = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            found.append(f"{name} is frozen (requires_grad=False)")
        elif id(p) not in in_optimizer:
            found.append(f"{name} is not in the optimizer")
        elif p.grad is None:
            found.append(f"{name} gets no gradient (detached from the loss, or unused)")
    return found


def overfit_small_sample(
    model: nn.Module,
    loader: Any,
    optimizer: Any,
    loss_fn: Any = None,
    *,
    size: int = 50,
    max_steps: int = 150,
    target_accuracy: float = 1.0,
    held_out: int = 500,
    control: bool = True,
) -> Finding:
    """Train on the loader's first ``size`` examples with regularization off until ~100% training accuracy.

    Each step is one full-batch update with ``optimizer`` at its current rate, for up to ``max_steps``
    steps. The next ``held_out`` examples of the loader measure what the fit predicts elsewhere; with
    ``control``, against the same training on shuffled labels (as many steps as the real fit took).
    """
    loss_fn = default_loss(loss_fn)
    with preserved(model, optimizer, loader), regularization_off(model, optimizer):
        x_all, y_all = take_examples(loader, size + held_out)
        x, y = ember.from_numpy(x_all.array[:size]), ember.from_numpy(y_all.array[:size])
        x_out, y_out = ember.from_numpy(x_all.array[size:]), ember.from_numpy(y_all.array[size:])
        start = Snapshot(model, optimizer)  # regularization off: the control starts from the same point
        step = stepper(model, optimizer, loss_fn)
        real = _fit(step, x, y, max_steps, target_accuracy)
        untrained = _untrained_parameters(model, optimizer)
        real.held_out_accuracy = _accuracy(model, x_out, y_out)
        shuffled = None
        if control and real.fitted_at is not None and len(y_out.array):
            start.restore()
            labels = ember.from_numpy(np.random.default_rng(0).permutation(y.array))
            shuffled = _fit(stepper(model, optimizer, loss_fn), x, labels, real.fitted_at, 2.0)
            shuffled.held_out_accuracy = _accuracy(model, x_out, y_out)
        lr = float(optimizer.param_groups[0]["lr"])
    return _finding(real, shuffled, untrained, size, len(y_out.array), y_out.array, lr, max_steps)


def _finding(
    real: FitRun,
    shuffled: FitRun | None,
    untrained: list[str],
    size: int,
    held_out: int,
    held_out_labels: np.ndarray,
    lr: float,
    max_steps: int,
) -> Finding:
    numbers: dict[str, Any] = {
        "size": size,
        "lr": lr,
        "steps": len(real.losses),
        "fitted_at": real.fitted_at,
        "initial_loss": real.losses[0],
        "final_loss": real.losses[-1],
        "final_accuracy": real.accuracies[-1],
        "held_out": held_out,
        "held_out_accuracy": real.held_out_accuracy,
        "losses": real.losses,
        "accuracies": real.accuracies,
    }
    check = "overfit a small sample"
    finite = [loss for loss in real.losses if math.isfinite(loss)]
    peak = max(finite) if finite else math.nan
    if real.diverged or peak > EXPLODED * real.losses[0]:
        where = (
            f"to NaN at step {len(real.losses)}"
            if real.diverged
            else f"to {peak:.3g} at step {real.losses.index(peak) + 1}"
        )
        return Finding(
            check,
            False,
            f"loss explodes {where} on {size} examples: learning rate too high (lr {rate(lr)}), or bad "
            "initialization",
            numbers,
            [
                f"learning rate too high: try {rate(lr / 10)} or less (the range test suggests one)",
                *untrained,
            ],
        )
    if real.fitted_at is None:
        falling = real.losses[-1] < 0.9 * real.losses[0]
        summary = (
            f"cannot overfit {size} examples: {percent(real.accuracies[-1])} training accuracy after "
            f"{max_steps} steps (loss {real.losses[0]:.3g} -> {real.losses[-1]:.3g})"
        )
        if not falling:
            causes = [f"loss not going down: learning rate too low (lr {rate(lr)}), or bad initialization"]
            causes += untrained or [
                "no frozen or detached parameters found: look for dead ReLUs (layer statistics)"
            ]
        else:
            causes = [
                f"it learns, too slowly: a higher learning rate than {rate(lr)}, or more capacity",
                *untrained,
            ]
        return Finding(check, False, summary, numbers, causes)
    fitted = (
        f"fits {size} examples to {percent(real.accuracies[real.fitted_at - 1])} training accuracy in "
        f"{real.fitted_at} steps (loss {real.losses[0]:.3g} -> {real.losses[-1]:.3g})"
    )
    if shuffled is None:
        return Finding(check, True, fitted, numbers, untrained)
    counts = np.bincount(held_out_labels.astype(np.int64)) if held_out else np.zeros(1)
    baseline = max(float(counts.max()) / max(held_out, 1), shuffled.held_out_accuracy)
    margin = SIGNAL_MARGIN * math.sqrt(max(baseline * (1 - baseline), 1e-4) / max(held_out, 1))
    numbers.update(
        control_accuracy=shuffled.accuracies[-1],
        control_held_out_accuracy=shuffled.held_out_accuracy,
        control_losses=shuffled.losses,
        control_accuracies=shuffled.accuracies,
        chance=baseline,
    )
    compared = (
        f"on {held_out} other examples it predicts {percent(real.held_out_accuracy)} right, against "
        f"{percent(shuffled.held_out_accuracy)} when trained on shuffled labels (the label-shuffle control, "
        f"{percent(shuffled.accuracies[-1])} training accuracy after the same {real.fitted_at} steps)"
    )
    if real.held_out_accuracy > baseline + margin:
        return Finding(check, True, f"{fitted}; {compared}", numbers, untrained)
    return Finding(
        check,
        False,
        f"{fitted}, but {compared}: what it learns does not carry over to other images",
        numbers,
        [
            "the labels do not match the images: a bug in the data pipeline (labels shuffled apart from "
            "their images, the wrong label file, an augmentation that changes the class)"
        ],
    )
