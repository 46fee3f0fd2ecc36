"""``gradcheck`` and ``gradgradcheck``: analytic gradients (backward) against central differences.

The course's gradient check: the analytic gradient is fast but easy to get wrong, the numerical one is slow
but simple, so compute both and compare. Ember checks the vector-Jacobian product that backward computes,
with a random upstream gradient v (not all ones, which would hide errors that cancel in a sum): for every
input element x_j, d(v . f)/dx_j ~ (v . f(x + eps e_j) - v . f(x - eps e_j)) / (2 eps), in float64.

``gradgradcheck`` does the same one level up (``torch.autograd.gradgradcheck``): the function checked is
g(x, v) = d(v . f)/dx, computed by ``grad(..., create_graph=True)`` with a random upstream v, and its own
backward (the double backward) is compared with central differences of g, with a second random upstream u,
with respect to the inputs and to v.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ember.autograd.backprop import grad
from ember.autograd.grad_mode import enable_grad, no_grad
from ember.autograd.tensor import Tensor


class GradcheckError(RuntimeError):
    """Analytic and numerical gradients disagree; the message names the input, element and both values."""


def gradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """True if ``fn``'s backward agrees with central differences for every input that requires grad.

    The check runs in float64: floating-point inputs are copied to float64 first. ``fn`` returns a tensor
    or a tuple of tensors. Raises ``GradcheckError`` with the worst element, its index and both values.
    """
    return _check("gradcheck", fn, _as_inputs(inputs), eps, atol, rtol, seed)


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """True if the second derivatives of ``fn`` (the backward of its backward) agree with central
    differences of its first derivatives, with respect to the inputs and the upstream gradients.

    ``grad_outputs`` (one per output of ``fn``) are random by default. Raises ``GradcheckError`` naming
    the worst element; ``DoubleBackwardError`` if an op on the way cannot be differentiated twice.
    """
    inputs = tuple(_as_float64(x) for x in _as_inputs(inputs))
    differentiable = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not differentiable:
        raise ValueError("gradgradcheck: no input requires grad; create them with requires_grad=True")
    outputs = _outputs(fn(*inputs), "gradgradcheck")
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        upstream = tuple(Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outputs)
    else:
        upstream = tuple(_as_float64(v) for v in _as_inputs(grad_outputs))
    count = len(inputs)

    def first_derivatives(*values: Any) -> tuple[Tensor, ...]:
        with enable_grad():  # the numerical half evaluates this under no_grad
            xs, vs = values[:count], values[count:]
            wrt = [xs[i] for i in differentiable]
            grads = grad(_outputs(fn(*xs), "gradgradcheck"), wrt, vs, create_graph=True, allow_unused=True)
        return tuple(
            g if g is not None else Tensor(np.zeros(w.shape)) for g, w in zip(grads, wrt, strict=True)
        )

    def label(position: int) -> str:
        return f"input {position}" if position < count else f"grad_output {position - count}"

    return _check("gradgradcheck", first_derivatives, (*inputs, *upstream), eps, atol, rtol, seed, label)


def _as_inputs(inputs: Any) -> tuple[Any, ...]:
    return tuple(inputs) if isinstance(inputs, Sequence) and not isinstance(inputs, Tensor) else (inputs,)


def _check(
    caller: str,
    fn: Callable[..., Any],
    inputs: tuple[Any, ...],
    eps: float,
    atol: float,
    rtol: float,
    seed: int,
    label: Callable[[int], str] = "input {}".format,
) -> bool:
    inputs64 = tuple(_as_float64(x) for x in inputs)
    checked = [i for i, x in enumerate(inputs64) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"{caller}: no input requires grad; create them with requires_grad=True")

    outputs = _outputs(fn(*inputs64), caller)
    rng = np.random.default_rng(seed)
    upstream = [rng.standard_normal(o.shape) for o in outputs]

    def projected(values: tuple[Tensor, ...]) -> float:
        return float(
            sum(np.sum(o.array.astype(np.float64) * v) for o, v in zip(values, upstream, strict=True))
        )

    for output, v in zip(outputs, upstream, strict=True):
        if output.requires_grad:
            output.backward(v, retain_graph=True)
    analytic = {i: _grad_or_zeros(inputs64[i]) for i in checked}

    with no_grad():
        for i in checked:
            x = inputs64[i].array
            numerical = np.zeros_like(x)
            flat, flat_numerical = x.reshape(-1), numerical.reshape(-1)
            for j in range(flat.size):
                original = flat[j]
                flat[j] = original + eps
                plus = projected(_outputs(fn(*inputs64), caller))
                flat[j] = original - eps
                minus = projected(_outputs(fn(*inputs64), caller))
                flat[j] = original
                flat_numerical[j] = (plus - minus) / (2 * eps)
            _compare(caller, label(i), x.shape, analytic[i], numerical, atol, rtol)
    return True


def _as_float64(x: Any) -> Any:
    if not isinstance(x, Tensor) or x.dtype.kind != "f":
        return x
    copy = Tensor(x.array.astype(np.float64))
    copy.requires_grad = x.requires_grad
    return copy


def _outputs(result: Any, caller: str) -> tuple[Tensor, ...]:
    values = result if isinstance(result, tuple | list) else (result,)
    tensors = tuple(v for v in values if isinstance(v, Tensor) and v.dtype.kind == "f")
    if not tensors:
        raise ValueError(f"{caller}: fn must return a floating-point tensor or a tuple of them")
    return tensors


def _grad_or_zeros(x: Tensor) -> np.ndarray:
    return np.zeros_like(x.array) if x.grad is None else x.grad.array.astype(np.float64)


def _compare(
    caller: str,
    what: str,
    shape: tuple[int, ...],
    analytic: np.ndarray,
    numerical: np.ndarray,
    atol: float,
    rtol: float,
) -> None:
    excess = np.abs(analytic - numerical) - (atol + rtol * np.abs(numerical))
    if not np.all(np.isfinite(analytic)) or excess.max(initial=-np.inf) > 0:
        worst = np.unravel_index(np.nanargmax(np.where(np.isfinite(analytic), excess, np.inf)), shape)
        a, n = analytic[worst], numerical[worst]
        relative = np.max(np.abs(analytic - numerical) / np.maximum(np.abs(numerical), 1e-12))
        raise GradcheckError(
            f"{caller}: {what} (shape {shape}): analytic and numerical gradients differ; worst "
            f"element at index {tuple(int(k) for k in worst)}: analytic {a:.10g}, numerical {n:.10g} "
            f"(abs error {abs(a - n):.3g}, allowed {atol + rtol * abs(n):.3g}); largest relative error over "
            f"the input {relative:.3g}"
        )
