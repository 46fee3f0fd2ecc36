"""Reading the layer statistics as the lectures do: which numbers mean trouble, and what trouble.

The thresholds, and why:

- *dead ReLUs*: a unit that is not positive for any image of the batches passes no gradient back, so it
  cannot recover; a few are normal, half of a layer is not (``DEAD``). A large negative bias, or a
  learning rate so high that one update knocked the weights far away, kills them ("Use ReLU. Be careful
  with your learning rates").
- *saturated sigmoid/tanh*: outputs in the flat tails have a local gradient near 0 and "kill the
  gradients" flowing back; flagged from half of a layer (``SATURATED``).
- *vanishing or exploding activations*: the lecture's 10-layer net with 0.01 * randn weights ends with
  standard deviations of 1e-6 ("activations become zero!"); too large a scale explodes the other way.
  Flagged when a layer's output spreads 1,000 times less (``COLLAPSED``) or more than the input.
- *vanishing gradients*: a weight whose gradient, relative to its size, is 10,000 times smaller than
  another layer's barely learns (``VANISHING``).
- *update-to-weight ratio*: the lecture's rule of thumb is ~1e-3 per step during training. The first steps
  from initialization run higher (the gradients are large before the loss has fallen; the default recipe's
  first updates are 1e-2 to 2e-1 of the weights), so the doctor flags only what no training survives, an
  update as large as half the weight (``RATIO_HIGH``: "learning rate likely too high"), and an update too
  small to move anything (``RATIO_LOW``: "learning rate likely too low").
- parameters that never change: frozen (``requires_grad=False``), with no gradient (detached from the loss,
  or unused), or missing from the optimizer.
"""

from __future__ import annotations

import math
from typing import Any

from ember.train.doctor.findings import percent, rate

DEAD = 0.5
SATURATED = 0.5
COLLAPSED = 1e-3
VANISHING = 1e-4
RATIO_HIGH = 0.5
RATIO_LOW = 1e-5
ACTIVATIONS = ("ReLU", "LeakyReLU", "PReLU", "ELU", "SiLU", "GELU", "Sigmoid", "Tanh")


Problem = tuple[str, str]  # (a key that names the problem and the layer, the text)


def layer_problems(layers: list[Any], input_std: float, images: int) -> list[Problem]:
    """What the activations show (dead, saturated, vanishing, exploding), keyed by problem and layer."""
    problems: list[Problem] = []
    for layer in layers:
        if layer.dead is not None and layer.dead >= DEAD:
            problems.append(
                (
                    f"dead {layer.name}",
                    f"layer {layer.name}: {percent(layer.dead)} of ReLUs dead (never positive on any of "
                    f"{images} images): they pass no gradient and never recover; a large negative bias or a "
                    "learning rate too high killed them",
                )
            )
        if layer.saturated is not None and layer.saturated >= SATURATED:
            problems.append(
                (
                    f"saturated {layer.name}",
                    f"layer {layer.name}: {percent(layer.saturated)} of {layer.kind} outputs saturated: "
                    "saturated neurons kill the gradients (weights too large, or inputs not normalized)",
                )
            )
    watched = [layer for layer in layers if layer.kind in ACTIVATIONS]
    if input_std > 0 and math.isfinite(input_std):
        collapsed = [layer.name for layer in watched if layer.std < COLLAPSED * input_std]
        exploded = [layer.name for layer in watched if not layer.std <= input_std / COLLAPSED]
        if collapsed:
            where = ", ".join(collapsed)
            problems.append(
                (
                    "collapsed",
                    f"activations become zero! (std below {COLLAPSED:g} of the input's at {where}): weights "
                    "too small for this depth (low W => vanishing); use Xavier or He initialization, or "
                    "batch norm",
                )
            )
        if exploded:
            where = ", ".join(exploded)
            problems.append(
                (
                    "exploded",
                    f"activations explode (std above {1 / COLLAPSED:g} times the input's at {where}): "
                    "weights too large (high W => exploding), at initialization or after too large updates",
                )
            )
    return problems


def parameter_problems(
    parameters: list[Any], ratio_high: float = RATIO_HIGH, ratio_low: float = RATIO_LOW
) -> list[Problem]:
    """What the gradients and the updates show, and the parameters that never change."""
    problems: list[Problem] = []
    for p in parameters:
        if not p.requires_grad:
            text = (
                f"{p.name} is frozen (requires_grad=False): it never learns (fine if fine-tuning on purpose)"
            )
            problems.append((f"frozen {p.name}", text))
        elif not p.in_optimizer:
            text = f"{p.name} is not in the optimizer: it gets gradients but is never updated"
            problems.append((f"not optimized {p.name}", text))
        elif p.grad_norm is None:
            text = f"{p.name} gets no gradient: detached from the loss (.detach(), .data, NumPy) or unused"
            problems.append((f"no gradient {p.name}", text))
        elif not math.isfinite(p.grad_norm):
            text = f"{p.name}: the gradient is {p.grad_norm} (exploding gradients)"
            problems.append((f"gradient {p.name}", text))
        elif p.grad_norm == 0:
            text = f"{p.name}: its gradient is exactly 0 (dead or saturated units above it pass nothing back)"
            problems.append((f"zero gradient {p.name}", text))
    relative = {
        p.name: p.grad_norm / p.weight_norm
        for p in parameters
        if p.is_weight and p.grad_norm is not None and math.isfinite(p.grad_norm) and p.weight_norm > 0
    }
    if len(relative) > 1:
        largest = max(relative.values())
        weak = [name for name, value in relative.items() if value < VANISHING * largest]
        if weak:
            problems.append(
                (
                    "vanishing gradients",
                    f"vanishing gradients at {', '.join(weak)}: relative to their size, their gradients are "
                    f"over {1 / VANISHING:g} times smaller than the largest layer's; they barely learn",
                )
            )
    high = {p.name: p.update_ratio for p in parameters if _watched(p) and not p.update_ratio <= ratio_high}
    low = {p.name: p.update_ratio for p in parameters if _watched(p) and p.update_ratio < ratio_low}
    for found, verdict in ((high, "too high"), (low, "too low")):
        if found:
            where = ", ".join(f"{rate(value)} at {name}" for name, value in found.items())
            problems.append(
                (f"ratio {verdict}", f"update/weight ratio {where}: learning rate likely {verdict}")
            )
    return problems


def _watched(p: Any) -> bool:
    """A weight that trains, whose update ratio was measured."""
    return bool(p.is_weight and p.update_ratio is not None and p.grad_norm)


def judge_layers(report: Any, steps: int, images: int) -> None:
    """Fill in a ``LayerReport``'s verdict, message, causes and numbers."""
    problems = layer_problems(report.layers, report.input_std, images)
    problems += parameter_problems(report.parameters)
    ratios = [p.update_ratio for p in report.parameters if p.is_weight and p.update_ratio is not None]
    dead = [layer.dead for layer in report.layers if layer.dead is not None]
    report.numbers.update(
        steps=steps,
        images=images,
        input_std=report.input_std,
        layers={
            layer.name: [layer.mean, layer.std, layer.dead, layer.saturated, layer.grad_rms]
            for layer in report.layers
        },
        update_ratios={p.name: p.update_ratio for p in report.parameters if p.update_ratio is not None},
    )
    summary = [f"{len(report.layers)} layers over {steps} steps ({images} images)"]
    if dead:
        summary.append(f"dead ReLUs up to {percent(max(dead))}")
    finite = [r for r in ratios if math.isfinite(r)]
    if finite:
        summary.append(
            f"update/weight ratios {rate(min(finite))} to {rate(max(finite))} (rule of thumb ~1e-3)"
        )
    report.ok = not problems
    report.message = "; ".join(summary)
    report.causes = [text for _, text in problems]
