"""The test problems, built the same way in Ember and in PyTorch from the same NumPy arrays.

Each problem returns its parameters and a ``loss()`` that recomputes the loss and back-propagates it
(after zeroing the gradients), so the same function serves a plain step and an LBFGS closure:
- ``quadratic``: ``0.5 x^T A x - b^T x`` in 10 dimensions, ``A`` with condition number 100, ``x`` split in two
  parameters (6 + 4) so that groups interact through ``A``;
- ``rosenbrock``: two coupled 2-D Rosenbrock valleys ``(1 - a)^2 + 100 (b - a^2)^2``;
- ``mlp``: a 10-32-16-4 network with cross-entropy on 64 fixed random samples, tanh hidden units in float32;
- ``relu_mlp``: the same with ReLU, in float64.

Why two MLPs: a ReLU network's gradient jumps where a pre-activation crosses zero, so a rounding difference of
one ulp at such a crossing changes the gradient of a whole row. With float32 noise (1e-7) some crossing in 200
steps lands that close, and normalizing rules (Adam, RMSprop) turn the flipped gradient into a full step: the
two runs part for a reason that has nothing to do with the optimizer. In float64 the noise is 1e-16 and the
ReLU network keeps step with PyTorch; in float32 the smooth tanh network does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import ember
import ember.nn
import ember.optim

torch.set_num_threads(1)


@dataclass
class Problem:
    params: list[Any]
    loss: Callable[[], Any]  # zero the grads, compute the loss, backward, return it
    groups: list[list[int]]  # a natural split of params into two groups (indices)


def _quadratic_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    a = (q * np.logspace(0, 2, 10)) @ q.T  # eigenvalues 1 .. 100
    b = rng.standard_normal(10)
    x0 = rng.standard_normal(10)
    return a.astype(np.float32), b.astype(np.float32), x0.astype(np.float32)


def _mlp_data() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    sizes = [10, 32, 16, 4]
    weights = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        weights.append((rng.standard_normal((fan_out, fan_in)) * np.sqrt(2 / fan_in)).astype(np.float32))
        weights.append((rng.standard_normal(fan_out) * 0.1).astype(np.float32))
    x = rng.standard_normal((64, 10)).astype(np.float32)
    y = rng.integers(0, 4, 64)
    return weights, x, y


def _make(lib: str, arrays: list[np.ndarray], dtype: Any = np.float32) -> list[Any]:
    if lib == "torch":
        return [torch.nn.Parameter(torch.from_numpy(a.astype(dtype))) for a in arrays]
    # Through a Tensor, as a PyTorch user writes it.
    return [ember.nn.Parameter(ember.tensor(a.astype(dtype))) for a in arrays]


def _zero(params: list[Any]) -> None:
    for p in params:
        p.grad = None


def quadratic(lib: str, sign: float = 1.0, dtype: Any = np.float32) -> Problem:
    a, b, x0 = _quadratic_data()
    params = _make(lib, [x0[:6], x0[6:]], dtype)
    m = torch if lib == "torch" else ember
    A, B = m.tensor(a.astype(dtype)), m.tensor(b.astype(dtype))

    def loss() -> Any:
        _zero(params)
        x = m.cat(params)
        value = sign * (0.5 * (x * (A @ x)) - B * x).sum()  # (1-D @ 1-D backward fails in the engine)
        value.backward()
        return value

    return Problem(params, loss, [[0], [1]])


def rosenbrock(lib: str, sign: float = 1.0, dtype: Any = np.float32) -> Problem:
    params = _make(lib, [np.array([-1.5, 0.5]), np.array([2.0, -0.5])], dtype)

    def loss() -> Any:
        _zero(params)
        a, b = params
        value = sign * ((1 - a) ** 2 + 100 * (b - a * a) ** 2).sum()
        value.backward()
        return value

    return Problem(params, loss, [[0], [1]])


def mlp(lib: str, sign: float = 1.0, dtype: Any = np.float32, activation: str = "tanh") -> Problem:
    weights, x_np, y_np = _mlp_data()
    params = _make(lib, weights, dtype)
    m = torch if lib == "torch" else ember
    x, y = m.tensor(x_np.astype(dtype)), m.tensor(y_np).unsqueeze(1)
    linear = torch.nn.functional.linear if lib == "torch" else ember.linear
    nonlinearity, log_softmax = getattr(m, activation), m.log_softmax

    def loss() -> Any:
        _zero(params)
        w1, b1, w2, b2, w3, b3 = params
        hidden = nonlinearity(linear(nonlinearity(linear(x, w1, b1)), w2, b2))
        value = -sign * log_softmax(linear(hidden, w3, b3), 1).gather(1, y).mean()
        value.backward()
        return value

    return Problem(params, loss, [[0, 2, 4], [1, 3, 5]])


def relu_mlp(lib: str, sign: float = 1.0, dtype: Any = np.float64) -> Problem:
    return mlp(lib, sign, dtype, "relu")


PROBLEMS = {"quadratic": quadratic, "rosenbrock": rosenbrock, "mlp": mlp, "relu_mlp": relu_mlp}


def param_groups(problem: Problem, group_options: list[dict[str, Any]] | None) -> Any:
    """The problem's parameters as one list, or as its two groups with the given per-group options."""
    if group_options is None:
        return problem.params
    return [
        {"params": [problem.params[i] for i in indices], **options}
        for indices, options in zip(problem.groups, group_options, strict=True)
    ]


def run(
    name: str,
    optimizer: str,
    options: dict[str, Any],
    group_options: list[dict[str, Any]] | None = None,
    steps: int = 200,
    closure: bool = False,
    dtype: Any = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Optimize problem ``name`` with ``optimizer`` in Ember and in PyTorch; the final parameters of both.

    With ``maximize=True`` the problem's loss is negated, so that maximizing it is the same descent.
    """
    sign = -1.0 if options.get("maximize") else 1.0
    results = []
    for lib, module in (("ember", ember.optim), ("torch", torch.optim)):
        problem = PROBLEMS[name](lib, sign) if dtype is None else PROBLEMS[name](lib, sign, dtype)
        opt = getattr(module, optimizer)(param_groups(problem, group_options), **options)
        for _ in range(steps):
            if closure:
                opt.step(problem.loss)
            else:
                problem.loss()
                opt.step()
        results.append([np.array(p.detach().numpy() if lib == "torch" else p.array) for p in problem.params])
    return results[0], results[1]


def max_relative_error(actual: list[np.ndarray], expected: list[np.ndarray]) -> float:
    """The largest error of any parameter, relative to the largest magnitude in that parameter."""
    return max(
        float(np.abs(a.astype(np.float64) - e).max() / max(np.abs(e).max(), 1e-30))
        for a, e in zip(actual, expected, strict=True)
    )
