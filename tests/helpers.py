"""The test harness: PyTorch parity and numerical gradient checks, shared by every test of an operation.

``check_parity`` runs an Ember function and its PyTorch counterpart on the same inputs, compares the
outputs, back-propagates the same *random* upstream gradient through both and compares every input's
gradient. ``check_gradients`` runs ``ember.gradcheck`` in float64. Together they are the two checks that
every differentiable operation must pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch

import ember
from ember.backends import _dnnl

torch.set_num_threads(1)


def to_torch(value: Any, requires_grad: bool = False) -> Any:
    """An Ember tensor or NumPy array as a torch tensor (same values and type)."""
    if isinstance(value, ember.Tensor):
        value = value.array
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        tensor = torch.from_numpy(np.array(value))
        return tensor.requires_grad_(requires_grad and tensor.is_floating_point())
    return value


def to_ember(value: Any, requires_grad: bool = False) -> Any:
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        tensor = ember.tensor(value)
        tensor.requires_grad = requires_grad and value.dtype.kind == "f"
        return tensor
    return value


def assert_close(actual: Any, expected: Any, rtol: float, atol: float, what: str) -> None:
    """``actual`` (Ember or NumPy) equals ``expected`` (torch or NumPy) within tolerance."""
    actual = np.asarray(actual.array if isinstance(actual, ember.Tensor) else actual)
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    if not np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True):
        error = np.abs(actual.astype(np.float64) - expected)
        worst = np.unravel_index(np.nanargmax(error), error.shape) if error.size else ()
        raise AssertionError(
            f"{what}: max abs error {np.nanmax(error):.3g} at {worst} "
            f"(ember {actual[worst]!r}, torch {expected[worst]!r}; rtol={rtol}, atol={atol})"
        )


def _outputs(result: Any) -> list[Any]:
    if isinstance(result, tuple | list):
        return [r for r in result if isinstance(r, ember.Tensor | torch.Tensor)]
    return [result]


def check_parity(
    ember_fn: Callable[..., Any],
    torch_fn: Callable[..., Any],
    inputs: Sequence[Any],
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    grad_rtol: float | None = None,
    grad_atol: float | None = None,
    seed: int = 0,
    backward: bool = True,
) -> None:
    """Same outputs and same input gradients (for a random upstream gradient) in Ember and PyTorch.

    ``inputs`` are NumPy arrays (floating ones require grad) or other values passed to both unchanged.
    """
    ember_inputs = [to_ember(x, requires_grad=backward) for x in inputs]
    torch_inputs = [to_torch(x, requires_grad=backward) for x in inputs]
    ember_out, torch_out = _outputs(ember_fn(*ember_inputs)), _outputs(torch_fn(*torch_inputs))
    assert len(ember_out) == len(torch_out), "different numbers of outputs"
    for k, (e, t) in enumerate(zip(ember_out, torch_out, strict=True)):
        assert e.dtype == t.detach().numpy().dtype, f"output {k}: dtype {e.dtype} != torch's {t.dtype}"
        assert_close(e, t, rtol, atol, f"output {k}")
    if not backward:
        return
    rng = np.random.default_rng(seed)
    for e, t in zip(ember_out, torch_out, strict=True):
        if not t.requires_grad:
            continue
        upstream = rng.standard_normal(t.shape).astype(t.detach().numpy().dtype)
        e.backward(upstream, retain_graph=True)
        t.backward(torch.from_numpy(upstream), retain_graph=True)
    for k, (e, t) in enumerate(zip(ember_inputs, torch_inputs, strict=True)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            if t.grad is None:
                assert e.grad is None or not np.any(e.grad.array), f"input {k}: torch has no gradient"
                continue
            assert e.grad is not None, f"input {k}: Ember computed no gradient, torch did"
            assert_close(
                e.grad,
                t.grad,
                grad_rtol or rtol * 10,
                grad_atol or atol * 10,
                f"gradient of input {k}",
            )


def check_gradients(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> None:
    """``ember.gradcheck`` in float64 on NumPy inputs (floating ones require grad)."""
    tensors = [to_ember(np.asarray(x, dtype=np.float64), True) if _is_float(x) else x for x in inputs]
    assert ember.gradcheck(fn, tensors, eps=eps, atol=atol, rtol=rtol)


def _is_float(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"


def random_array(shape: Sequence[int], seed: int = 0, low: float | None = None, dtype: Any = np.float32):
    """Standard normal values (or, with ``low``, values of magnitude >= low with random signs)."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(tuple(shape))
    if low is not None:
        values = np.sign(values + 1e-12) * (low + np.abs(values))
    return np.asarray(values, dtype=dtype)


def require_onednn() -> None:
    """Skip where oneDNN's library is absent, except under CI where .ci/run installed it (then fail)."""
    if _dnnl.library() is None:
        reason = _dnnl.status()
        if os.environ.get("CI") and os.environ.get("EMBER_EXPECT_ONEDNN") == "1":
            pytest.fail(f"CI installed libdnnl2 but {reason}")
        pytest.skip(reason)
