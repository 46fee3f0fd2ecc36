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

from ember.autograd import Context, Function, Tensor
from ember.compiled import compilable
from ember.nn.functional._compiled import compiled_norm
from ember.nn.functional._parallel import run_chunks, sum_chunks
from ember.nn.shape_check import input_shape_error

# Slices of the batch (2 MB) small enough that a slice and its temporaries stay in cache: each big array is
# then read from memory once per pass instead of once per NumPy operation.
_CHUNK_BYTES = 1 << 21


def _chunks(x3: np.ndarray) -> list[slice]:
    n = x3.shape[0]
    step = max(1, _CHUNK_BYTES // max(x3[0].nbytes, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def kernels_for(*arrays: np.ndarray) -> Any:
    """The compiled kernels (``_numba_norm``) if they are on and take these arrays (C-contiguous, non-empty,
    all float32 or all float64), else None: the NumPy path below."""
    return compiled_norm() if compilable(*arrays) else None


def per_channel_sums(x3: np.ndarray, kernel: Any) -> np.ndarray:
    """A (2, C) float64 array: the sum over the chunks of samples of kernel(part, partial sums), added in
    chunk order (the same numbers on any number of threads)."""

    def body(part: slice) -> np.ndarray:
        sums = np.zeros((2, x3.shape[1]))
        kernel(part, sums)
        return sums

    return sum_chunks(_chunks(x3), body)


def batch_statistics(x3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance of an (N, C, L) array over N and L, in float64.

    Compiled: one pass, the sums of x - k and (x - k)^2 with k a value of each channel (``_numba_norm``).
    NumPy: the sum, then the centered squares (``centered_dot``).
    """
    count = x3.shape[0] * x3.shape[2]
    kernels = kernels_for(x3)
    if kernels is None:
        mean = channel_sum(x3) / count
        return mean, centered_dot(x3, mean)[0] / count
    shift = x3[0, :, 0].astype(np.float64)
    sums = per_channel_sums(x3, lambda part, out: kernels.shifted_moments(x3[part], shift, out))
    shifted_mean = sums[0] / count
    return shift + shifted_mean, np.maximum(sums[1] / count - shifted_mean * shifted_mean, 0)


def gradient_sums(x3: np.ndarray, mean: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, sum(dy (x - mean)) and sum(dy) over N and L, in float64, in one pass over x and dy."""
    kernels = kernels_for(x3, dy)
    if kernels is None:
        centered_sum, total = centered_dot(x3, mean, dy)
        assert total is not None
        return centered_sum, total
    sums = per_channel_sums(x3, lambda part, out: kernels.centered_moments(x3[part], mean, dy[part], out))
    return sums[1], sums[0]


def channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum of an (N, C, L) array over N and L as two matrix-vector products (BLAS), returned in float64."""
    n, c, length = a.shape
    rows = a.reshape(n * c, length) @ np.ones(length, dtype=a.dtype) if length > 1 else a.reshape(n * c)
    return (np.ones(n, dtype=a.dtype) @ rows.reshape(n, c)).astype(np.float64)


def centered_dot(
    x3: np.ndarray, mean: np.ndarray, other: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per channel, sum over N and L of (x - mean) * other ((x - mean)^2 without ``other``), in float64;
    and, with ``other``, the sum of ``other`` itself, from the same slices while they are in cache.

    Two-pass statistics, chunk by chunk: the centered values never exist as one big temporary.
    """
    column = mean.astype(x3.dtype)[:, None]
    total = np.zeros(x3.shape[1], dtype=np.float64)
    other_total = None if other is None else np.zeros(x3.shape[1], dtype=np.float64)
    buffer = np.empty_like(x3[: _chunks(x3)[0].stop])
    for part in _chunks(x3):
        centered = buffer[: part.stop - part.start]
        np.subtract(x3[part], column, out=centered)
        if other is None:
            np.multiply(centered, centered, out=centered)
        else:
            assert other_total is not None
            other_total += channel_sum(other[part])
            np.multiply(centered, other[part], out=centered)
        total += channel_sum(centered)
    return total, other_total


def update_running_stats(
    running_mean: np.ndarray,
    running_var: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    count: float,
    momentum: float,
) -> None:
    """Batch norm's running estimates, in place: r <- (1 - momentum) r + momentum * batch value, with the
    variance unbiased (count / (count - 1)) as PyTorch keeps it; ``var`` is the biased batch variance."""
    running_mean *= 1 - momentum
    running_mean += (momentum * mean).astype(running_mean.dtype)
    running_var *= 1 - momentum
    running_var += (momentum * count / max(count - 1, 1) * var).astype(running_var.dtype)


def affine_per_channel(
    terms: list[tuple[np.ndarray, np.ndarray]], shift: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """out = sum_k a_k * coefficient_k + shift, coefficients and shift per channel, chunk by chunk.

    Compiled (one or two terms): one pass over the arrays, the chunks shared among the threads. NumPy: a
    pass per operation over each chunk while it is in cache.
    """
    kernels = kernels_for(out, *(a for a, _ in terms))
    if kernels is not None and len(terms) <= 2:
        kernel = kernels.affine if len(terms) == 1 else kernels.affine2
        coefficients = [(a, coefficient.astype(out.dtype)) for a, coefficient in terms]
        constant = shift.astype(out.dtype)

        def body(part: slice) -> None:  # kernel(a_1, coefficient_1[, a_2, coefficient_2], shift, out)
            arguments = [v for a, coefficient in coefficients for v in (a[part], coefficient)]
            kernel(*arguments, constant, out[part])

        run_chunks(_chunks(out), body)
        return out
    columns = [(a, coefficient.astype(out.dtype)[:, None]) for a, coefficient in terms]
    shift_column = shift.astype(out.dtype)[:, None]
    scratch = np.empty_like(out[: _chunks(out)[0].stop]) if len(terms) > 1 else None
    for part in _chunks(out):
        target = out[part]
        (first, first_column), *rest = columns
        np.multiply(first[part], first_column, out=target)
        for a, column in rest:
            assert scratch is not None
            extra = scratch[: part.stop - part.start]
            np.multiply(a[part], column, out=extra)
            target += extra
        target += shift_column
    return out


class BatchNorm(Function):
    """y = gamma (x - mean) / sqrt(var + eps) + beta per channel (dimension 1); forward and backward fused.

    With ``use_batch_stats`` the statistics are the batch's, and the running estimates (when given) are
    updated in place: running = (1 - momentum) running + momentum batch, with the unbiased variance.
    Per-channel sums are float64 (the compiled kernels' from the first addition, NumPy's past BLAS's rows in
    the input's type); the big arrays stay in the input's type. Forward saves only x (no normalized copy);
    backward reads x and dy twice: once for the sums, once to write dx = a dy + b x + c.
    """

    @staticmethod
    def composite(
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        running_mean: Tensor | None,
        running_var: Tensor | None,
        use_batch_stats: bool,
        momentum: float,
        eps: float,
    ) -> Tensor:
        """The same normalization from Ember operations (gradients of gradients, ``ember.autograd.backprop``);
        it reads the running estimates but does not update them."""
        axes = (0, *range(2, x.ndim))
        channel = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if use_batch_stats:
            centered = x - x.mean(axes, keepdim=True)
            var = (centered * centered).mean(axes, keepdim=True)
        else:
            assert running_mean is not None and running_var is not None
            centered, var = x - running_mean.reshape(channel), running_var.reshape(channel)
        y = centered / (var + eps).sqrt()
        if weight is not None:
            y = y * weight.reshape(channel)
        return y if bias is None else y + bias.reshape(channel)

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
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        count = x3.shape[0] * x3.shape[2]
        if use_batch_stats:
            mean, var = batch_statistics(x3)
            if running_mean is not None and running_var is not None:
                update_running_stats(running_mean, running_var, mean, var, count, momentum)
        else:
            assert running_mean is not None and running_var is not None
            mean, var = running_mean.astype(np.float64), running_var.astype(np.float64)
        invstd = 1 / np.sqrt(var + eps)
        scale = invstd if weight is None else invstd * weight
        shift = -mean * scale if bias is None else bias - mean * scale
        out = affine_per_channel([(x3, scale)], shift, np.empty_like(x3))
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(x3)
            ctx.stats = (mean, invstd, scale, count, use_batch_stats, x.shape)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, ...]:
        (x3,) = ctx.saved_tensors
        mean, invstd, scale, count, batch_stats, shape = ctx.stats
        x_needs, w_needs, b_needs = ctx.needs_input_grad[:3]
        dy = grad.reshape(x3.shape)
        need_sums = w_needs or b_needs or (x_needs and batch_stats)
        grad_weight = grad_bias = None
        if need_sums:  # sum(dy x_hat) = sum(dy (x - mean)) invstd and sum(dy), in one pass
            centered_sum, grad_bias = gradient_sums(x3, mean, dy)
            grad_weight = centered_sum * invstd
        grad_x = None
        if x_needs:
            if batch_stats:  # dx = scale / M (M dy - dbeta - x_hat dgamma) = a dy + b x + c
                assert grad_weight is not None and grad_bias is not None
                b = -scale * invstd * grad_weight / count
                c = -scale * grad_bias / count - b * mean
                terms = [(dy, scale), (x3, b)]
            else:  # fixed statistics: y is an affine map of x
                terms, c = [(dy, scale)], np.zeros_like(scale)
            grad_x = affine_per_channel(terms, c, np.empty_like(x3)).reshape(shape)
        dtype = x3.dtype
        return (
            grad_x,
            grad_weight.astype(dtype) if w_needs and grad_weight is not None else None,
            grad_bias.astype(dtype) if b_needs and grad_bias is not None else None,
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
