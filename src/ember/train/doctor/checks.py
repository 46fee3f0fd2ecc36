"""The first three steps of babysitting the learning process, as functions on a model and a loader.

The lectures' checklist ("Babysitting the Learning Process"; "Choosing hyperparameters", steps 1-2):

1. *Initialize and check initial loss with no regularization* (``check_initial_loss``). At initialization
   the scores are small and nearly equal, so the loss has a known value: softmax cross-entropy gives
   -log(1/C) = ln(C) (every class equally likely), the multiclass SVM loss with margin 1 gives C - 1 (each
   of the C - 1 wrong classes is within the margin: max(0, 0 - 0 + 1) = 1). A different value means the
   scores are not small (weights too large: "high W => exploding"; inputs not normalized) or the number of
   classes is not what the data has.
2. *Increase regularization, loss should increase* (``check_regularization``): the penalty lambda R(W) is
   added to the data loss, so turning it up must raise the loss; if it does not, the penalty does not
   reach the weights.
3. *Try a small portion of data, check you can overfit* (``overfit_small_sample``): with regularization
   off, a network must reach ~100% training accuracy on a few dozen examples. If it cannot, the learning
   rate is wrong ("loss not going down: rate too low"; "loss explodes to NaN: rate too high"), or part of
   the network is frozen or detached (``ember.train.doctor.overfit``).

Each function leaves the model, optimizer, loader and random state as it found them (``state.preserved``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import ember
from ember import nn
from ember.autograd import Tensor
from ember.train.doctor.findings import Finding, percent
from ember.train.doctor.state import default_loss, first_batches, preserved, regularization_off
from ember.train.trainer import quiet_floats

INITIAL_LOSS_TOLERANCE = 0.25  # the loss may be 25% off the expected value (the scores are small, not 0)


def expected_initial_loss(loss_fn: Any, num_classes: int) -> tuple[float, str]:
    """The loss of small, equal scores for ``loss_fn`` with ``num_classes`` classes, and its formula."""
    c = num_classes
    if isinstance(loss_fn, nn.CrossEntropyLoss | nn.NLLLoss):
        return math.log(c), f"ln(C) = ln({c}) = {math.log(c):.3f}"
    if isinstance(loss_fn, nn.SVMLoss):
        value = (c - 1) * loss_fn.margin
        return value, f"(C - 1) x margin = {c - 1} x {loss_fn.margin:g} = {value:g}"
    if isinstance(loss_fn, nn.MultiMarginLoss):  # PyTorch's divides by C
        value = (c - 1) * loss_fn.margin**loss_fn.p / c
        return value, f"(C - 1) x margin^p / C = {value:.3f}"
    if isinstance(loss_fn, nn.BCEWithLogitsLoss):
        return math.log(2), "ln(2) = 0.693 per output"
    raise ValueError(
        f"no known initial value for {type(loss_fn).__name__}: pass expected= (the loss of small scores)"
    )


def _statistics(values: np.ndarray) -> tuple[float, float]:
    values = values.astype(np.float64)
    return float(values.mean()), float(values.std())


def check_initial_loss(
    model: nn.Module,
    loader: Any,
    loss_fn: Any = None,
    num_classes: int | None = None,
    *,
    batches: int = 4,
    expected: float | None = None,
    tolerance: float = INITIAL_LOSS_TOLERANCE,
) -> Finding:
    """Step 1: the loss at initialization, without regularization, against its expected value.

    The model runs as it trains (batch norm on batch statistics) with dropout off, on the first
    ``batches`` batches; the ratio loss / expected must lie within 1 +- ``tolerance``.
    """
    loss_fn = default_loss(loss_fn)
    with preserved(model, loader=loader), regularization_off(model), ember.no_grad(), quiet_floats():
        model.train()
        data = first_batches(loader, batches)
        losses, scores, inputs, labels = [], [], [], []
        for x, y in data:
            out = model(x)
            scores.append(out.array)
            inputs.append(x.array)
            labels.append(y.array)
            try:
                losses.append(float(loss_fn(out, y).item()))
            except (IndexError, ValueError) as error:  # labels beyond the model's outputs
                losses.append(math.nan)
                problem = str(error)
                break
        else:
            problem = ""
    outputs = scores[0].shape[1] if scores[0].ndim == 2 else 1
    classes = num_classes or outputs
    label_values = np.concatenate(labels)
    if expected is None:
        expected, formula = expected_initial_loss(loss_fn, classes)
    else:
        formula = f"given: {expected:g}"
    loss = float(np.mean(losses))
    ratio = loss / expected
    input_mean, input_std = _statistics(np.concatenate([x.ravel() for x in inputs]))
    _, score_std = _statistics(np.concatenate([s.ravel() for s in scores]))
    numbers = {
        "loss": loss,
        "expected": expected,
        "ratio": ratio,
        "num_classes": classes,
        "model_outputs": outputs,
        "score_std": score_std,
        "input_mean": input_mean,
        "input_std": input_std,
        "largest_label": int(label_values.max()) if label_values.size else -1,
    }
    ok = math.isfinite(ratio) and abs(ratio - 1) <= tolerance
    if problem:
        message = f"the loss cannot be computed at initialization ({problem}); expected {formula}"
    elif math.isfinite(loss):
        message = f"loss at initialization {loss:.4g}, expected {formula}: ratio {ratio:.3g}"
    else:
        message = f"loss at initialization is {loss}: it explodes before any training"
    if ok:
        return Finding("initial loss", True, message + " (the scores start small and nearly equal)", numbers)
    return Finding("initial loss", False, message, numbers, _initial_loss_causes(numbers, problem))


def _initial_loss_causes(numbers: dict[str, Any], problem: str) -> list[str]:
    causes = []
    if problem or numbers["largest_label"] >= numbers["model_outputs"]:
        causes.append(
            f"label/num_classes mismatch: labels go up to {numbers['largest_label']} but the model has "
            f"{numbers['model_outputs']} outputs" + (f" ({problem})" if problem else "")
        )
    elif numbers["num_classes"] != numbers["model_outputs"]:
        causes.append(
            f"label/num_classes mismatch: the data has {numbers['num_classes']} classes but the model "
            f"{numbers['model_outputs']} outputs"
        )
    if abs(numbers["input_mean"]) > 1.5 or not 0.2 <= numbers["input_std"] <= 5:
        causes.append(
            f"unnormalized inputs (mean {numbers['input_mean']:.3g}, std {numbers['input_std']:.3g}): "
            "preprocess them, x <- (x - mu) / sigma with the training set's statistics"
        )
    if numbers["score_std"] > 2 or not math.isfinite(numbers["score_std"]):
        causes.append(
            f"bad init scale: the scores spread with std {numbers['score_std']:.3g} at initialization "
            "(high W => exploding); use small random weights scaled to the layer, Xavier or He "
            "initialization (std sqrt(2 / fan_in) before ReLUs)"
        )
    if numbers["ratio"] < 1 - INITIAL_LOSS_TOLERANCE and not causes:
        causes.append(
            "the loss is below chance before training: are the weights already trained (a checkpoint "
            "loaded), or are most labels the same class?"
        )
    return causes or ["the loss is off for an unknown reason: look at the scores of a first batch"]


def check_regularization(
    model: nn.Module,
    loader: Any,
    loss_fn: Any = None,
    penalty: Callable[[nn.Module], Tensor] | None = None,
    weight_decay: float = 0.0,
    *,
    batches: int = 2,
    factors: tuple[float, ...] = (1.0, 10.0, 100.0),
    probe: float = 5e-4,
) -> Finding:
    """Step 2: turning regularization up must raise the loss, L = data loss + lambda R(W).

    ``penalty(model)`` is the configured penalty term (as the Trainer's ``regularization``), and
    ``weight_decay`` the optimizer's, the gradient of (weight_decay / 2) sum W^2. The loss is measured
    with both scaled by each of ``factors``; it must rise with them. With no regularization configured the
    check shows what an L2 penalty of ``probe`` would add, and passes.
    """
    loss_fn = default_loss(loss_fn)
    params = [p for p in model.parameters() if p.requires_grad]

    def regularization(scale: float) -> float:
        total = 0.0
        if penalty is not None:
            total += scale * float(penalty(model).item())
        if weight_decay:
            total += (
                scale * weight_decay / 2 * sum(float(np.sum(p.array.astype(np.float64) ** 2)) for p in params)
            )
        return total

    with preserved(model, loader=loader), regularization_off(model), ember.no_grad(), quiet_floats():
        model.train()
        data_loss = float(
            np.mean([float(loss_fn(model(x), y).item()) for x, y in first_batches(loader, batches)])
        )
        terms = [regularization(f) for f in factors]
    losses = [data_loss + term for term in terms]
    numbers: dict[str, Any] = {"data_loss": data_loss, "factors": list(factors), "losses": losses}
    if penalty is None and not weight_decay:
        squares = sum(float(np.sum(p.array.astype(np.float64) ** 2)) for p in params if p.ndim > 1)
        numbers["probe_l2"] = probe
        return Finding(
            "regularization",
            True,
            f"no regularization configured; an L2 penalty of {probe:g} would raise the loss from "
            f"{data_loss:.4g} to {data_loss + probe * squares:.4g} (sum of squared weights {squares:.4g})",
            numbers,
        )
    rising = all(b > a for a, b in zip([data_loss, *losses], losses, strict=False))
    steps = " -> ".join(f"{loss:.4g}" for loss in [data_loss, *losses])
    scales = ", ".join(f"{f:g}x" for f in factors)
    if rising:
        return Finding(
            "regularization",
            True,
            f"the loss rises with regularization: {steps} (none, then {scales} the configured strength); "
            f"the configured penalty is {percent(terms[0] / data_loss)} of the data loss",
            numbers,
        )
    return Finding(
        "regularization",
        False,
        f"increase regularization, loss should increase, but it goes {steps} (none, then {scales})",
        numbers,
        [
            "the penalty does not reach the weights: does it select the model's parameters "
            "(ember.nn.regularization.select_parameters), and are they not all zero?"
        ],
    )
