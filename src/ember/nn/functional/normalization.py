"""Batch normalization and local response normalization, each one fused ``Function``.

Batch Normalization [Ioffe and Szegedy 2015]: normalize every channel over the mini-batch (and the spatial
positions), x_hat = (x - mean) / sqrt(var + eps), then scale and shift, y = gamma x_hat + beta, so that the
network can undo the normalization if it wants to. At test time the mean and variance are fixed running
estimates gathered during training. The backward pass is in closed form rather than through a graph of a
dozen elementwise nodes: with M values per channel,

    dbeta = sum(dy),  dgamma = sum(dy x_hat),  dx = gamma / (M sqrt(var + eps)) (M dy - dbeta - x_hat dgamma).

Local Response Normalization (Krizhevsky et al. 2012, AlexNet) divides each activation by a power of the
energy of its neighbours across channels, b_c = a_c / (k + alpha / n * sum_{c' near c} a_{c'}^2)^beta, with
PyTorch's window (n // 2 channels before c, (n - 1) // 2 after, zero-padded) and its averaging over n.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd.function import Context, Function
from ember.nn.shape_check import input_shape_error
from ember.tensor import Tensor


def channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum of an (N, C, L) array over N and L (the rows of length L as one matrix-vector product)."""
    n, c, length = a.shape
    if length == 1:
        return a.reshape(n, c).sum(axis=0)
    rows = a.reshape(n * c, length) @ np.ones(length, dtype=a.dtype)
    return rows.reshape(n, c).sum(axis=0)


def channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum(a * b) over N and L per channel, without the product as a temporary."""
    return np.einsum("ncl,ncl->c", a, b)


def _per_channel(values: np.ndarray) -> np.ndarray:
    return values[:, None]


class BatchNorm(Function):
    """y = gamma (x - mean) / sqrt(var + eps) + beta per channel (dimension 1); forward and backward fused.

    With ``use_batch_stats`` the statistics are the batch's, and the running estimates (when given) are
    updated in place: running = (1 - momentum) running + momentum batch, with the unbiased variance.
    """

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        weight: np.ndarray | None,
        bias: np.ndarray | None,
        running_mean: np.ndarray | None,
        running_var: np.ndarray | None,
        use_batch_stats: bool,
        momentum: float,
        eps: float,
    ) -> np.ndarray:
        n, c = x.shape[0], x.shape[1]
        x3 = x.reshape(n, c, -1)
        count = x3.shape[0] * x3.shape[2]
        dtype = x.dtype.type
        if use_batch_stats:
            mean = channel_sum(x3) / dtype(count)
            x_hat = x3 - _per_channel(mean)
            var = channel_dot(x_hat, x_hat) / dtype(count)
            invstd = 1 / np.sqrt(var + dtype(eps))
            x_hat *= _per_channel(invstd)
            if running_mean is not None and running_var is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += (momentum * count / max(count - 1, 1)) * var
            scale = invstd if weight is None else invstd * weight
        else:
            assert running_mean is not None and running_var is not None
            mean = running_mean.astype(x.dtype, copy=False)
            invstd = 1 / np.sqrt(running_var.astype(x.dtype, copy=False) + dtype(eps))
            x_hat = None
            scale = invstd if weight is None else invstd * weight
        if use_batch_stats:
            out = x_hat * _per_channel(weight) if weight is not None else x_hat.copy()
            if bias is not None:
                out += _per_channel(bias)
        else:
            shift = -mean * scale
            if bias is not None:
                shift += bias
            out = x3 * _per_channel(scale)
            out += _per_channel(shift)
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(x_hat, None if use_batch_stats else x3)
            ctx.stats = (mean, invstd, scale, count, x.shape)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, ...]:
        x_hat, x3 = ctx.saved_tensors
        mean, invstd, scale, count, shape = ctx.stats
        x_needs, w_needs, b_needs = ctx.needs_input_grad[:3]
        dy = grad.reshape(x_hat.shape if x_hat is not None else x3.shape)
        grad_bias = channel_sum(dy) if (b_needs or (x_needs and x_hat is not None)) else None
        grad_weight = None
        if w_needs or (x_needs and x_hat is not None):
            if x_hat is not None:
                grad_weight = channel_dot(dy, x_hat)
            else:  # eval: x_hat = (x - mean) invstd, kept implicit
                grad_weight = (channel_dot(dy, x3) - mean * channel_sum(dy)) * invstd
        grad_x = None
        if x_needs:
            if x_hat is None:  # fixed statistics: y is an affine map of x
                grad_x = dy * _per_channel(scale)
            else:
                assert grad_weight is not None and grad_bias is not None
                k = scale / count
                grad_x = x_hat * _per_channel(-k * grad_weight)
                grad_x += dy * _per_channel(scale)
                grad_x -= _per_channel(k * grad_bias)
            grad_x = grad_x.reshape(shape)
        return (
            grad_x,
            grad_weight if w_needs else None,
            grad_bias if b_needs else None,
            None,
            None,
            None,
            None,
            None,
        )


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over dimension 1 of an (N, C, ...) input (``torch.nn.functional.batch_norm``).

    ``training=True`` normalizes with the batch's statistics and updates the running estimates in place;
    ``training=False`` uses the running estimates.
    """
    shape = input.shape
    if len(shape) < 2:
        raise input_shape_error("batch_norm", "(N, C, ...)", shape)
    if training:
        if shape[0] * int(np.prod(shape[2:])) == 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input of size {shape}"
            )
    elif running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are required when training=False")
    return BatchNorm.apply(input, weight, bias, running_mean, running_var, training, momentum, eps)


def _window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[:, c] = sum of a[:, c - before .. c + after] along dimension 1, zero outside."""
    channels = a.shape[1]
    out = a.copy()
    for offset in range(-before, after + 1):
        if offset == 0 or abs(offset) >= channels:
            continue
        if offset > 0:
            out[:, : channels - offset] += a[:, offset:]
        else:
            out[:, -offset:] += a[:, : channels + offset]
    return out


class LocalResponseNorm(Function):
    """b = a / d^beta with d = k + alpha / size * (window sum of a^2 across channels)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
        dtype = x.dtype.type
        denominator = _window_sum(x * x, size // 2, (size - 1) // 2)
        denominator *= dtype(alpha / size)
        denominator += dtype(k)
        scale = np.power(denominator, dtype(-beta))
        out = x * scale
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x, out, denominator, scale)
            ctx.options = (size, alpha, beta)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None, None, None, None]:
        x, out, denominator, scale = ctx.saved_tensors
        size, alpha, beta = ctx.options
        # d b_c / d a_j = scale_c [c = j] - 2 beta alpha / size * b_c / d_c * a_j, for every c whose window
        # holds j; those c form the mirrored window around j.
        spread = grad * out
        spread /= denominator
        spread = _window_sum(spread, (size - 1) // 2, size // 2)
        spread *= x
        spread *= x.dtype.type(-2 * beta * alpha / size)
        spread += grad * scale
        return spread, None, None, None, None


def local_response_norm(
    input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """AlexNet's local response normalization across channels of an (N, C, ...) input (PyTorch's formula)."""
    if input.ndim < 3:
        raise input_shape_error("local_response_norm", "(N, C, ...) with at least 3 dimensions", input.shape)
    return LocalResponseNorm.apply(input, size, alpha, beta, k)
