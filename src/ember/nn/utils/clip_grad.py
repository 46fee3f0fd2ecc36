"""Gradient clipping: bound the size of a step before the optimizer takes it.

``clip_grad_norm_`` rescales all gradients together so that their joint norm is at most ``max_norm`` (Pascanu,
Mikolov & Bengio, *On the difficulty of training recurrent neural networks*, ICML 2013): the direction is
kept, only an exploding length is cut. ``clip_grad_value_`` clamps each component instead. Both change
``.grad`` in place, as ``torch.nn.utils`` does, with PyTorch's formula ``coef = min(1, max_norm / (total_norm
+ 1e-6))``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy

Parameters = Tensor | Iterable[Tensor]


def _gradients(parameters: Parameters) -> list[np.ndarray]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.array for p in parameters if p.grad is not None]


def _vector_norm(values: np.ndarray, norm_type: float) -> np.floating[Any]:
    values = values.ravel()
    if norm_type == np.inf:
        return np.abs(values).max() if values.size else values.dtype.type(0)
    if norm_type == -np.inf:
        return np.abs(values).min()
    if norm_type == 2:
        return np.sqrt(values.dot(values))
    if norm_type == 1:
        return np.abs(values).sum()
    if norm_type == 0:
        return values.dtype.type(np.count_nonzero(values))
    return (np.abs(values) ** norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(
    tensors: Parameters, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach: bool | None = None
) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together, as if concatenated into one vector."""
    arrays = [tensors.array] if isinstance(tensors, Tensor) else [t.array for t in tensors]
    norm_type = float(norm_type)
    if not arrays:
        return Tensor(np.zeros((), dtype=np.float32))
    norms = np.array([_vector_norm(a, norm_type) for a in arrays], dtype=np.result_type(*arrays))
    total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
            "anyway, set `error_if_nonfinite=False`"
        )
    return from_numpy(np.asarray(total))


def clip_grads_with_norm_(
    parameters: Parameters, max_norm: float, total_norm: Tensor, foreach: bool | None = None
) -> None:
    """Scale the gradients by ``min(1, max_norm / (total_norm + 1e-6))``, given their ``total_norm``."""
    grads = _gradients(parameters)
    if not grads:
        return
    coefficient = min(max_norm / (total_norm.array + np.float32(1e-6)), 1.0)
    with np.errstate(invalid="ignore"):  # an infinite norm gives inf * 0 = nan, as in PyTorch
        for grad in grads:
            grad *= coefficient


def clip_grad_norm_(
    parameters: Parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Rescale the gradients so that their joint norm is at most ``max_norm``; returns the norm before."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = _gradients(parameters)
    total_norm = get_total_norm([from_numpy(g) for g in grads], norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_value_(parameters: Parameters, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient component to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for grad in _gradients(parameters):
        np.clip(grad, -clip_value, clip_value, out=grad)
