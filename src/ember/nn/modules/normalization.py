"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d`` and AlexNet's ``LocalResponseNorm``.

Batch Normalization [Ioffe and Szegedy 2015] normalizes each channel with the mini-batch's mean and variance
during training and keeps running estimates for test time: running = (1 - momentum) running + momentum
batch (``momentum=None`` makes it the cumulative average over all batches seen, counted in the
``num_batches_tracked`` buffer). It reduces the dependence on initialization, allows higher learning rates
and regularizes a little. The computation is one fused ``Function`` (``functional.normalization``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember import dtypes
from ember.autograd import Tensor
from ember.nn import init
from ember.nn.functional.normalization import BatchNorm, local_response_norm
from ember.nn.module import Module
from ember.nn.modules.linear import new_parameter
from ember.nn.shape_check import check_channels, input_shape_error


class _BatchNorm(Module):
    _ndims: tuple[int, ...] = ()
    _layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = new_parameter((num_features,), dtype)
            self.bias = new_parameter((num_features,), dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            float_type = dtypes.as_dtype(dtype)
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=float_type)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=float_type)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        check_channels(self, shape, self._ndims, self.num_features, self._layout)
        factor = 0.0 if self.momentum is None else self.momentum
        running_mean, running_var = self.running_mean, self.running_var
        if self.training and self.track_running_stats:
            tracked = self.num_batches_tracked.array
            tracked += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / int(tracked)
        if self.training:
            use_batch_stats = True
            if shape[0] * int(np.prod(shape[2:])) == 1:
                raise ValueError(
                    f"{self!r}: expected more than 1 value per channel when training, got input of size "
                    f"{shape}"
                )
        else:
            use_batch_stats = running_mean is None and running_var is None
        return BatchNorm.apply(
            input, self.weight, self.bias, running_mean, running_var, use_batch_stats, factor, self.eps
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel C."""

    _ndims = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel C over the batch and all positions."""

    _ndims = (4,)
    _layout = "(N, {C}, H, W)"


class LocalResponseNorm(Module):
    """b_c = a_c / (k + alpha / size * sum of a^2 over the ``size`` channels around c)^beta (AlexNet)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 3:
            raise input_shape_error(self, "(N, C, ...) with at least 3 dimensions", input.shape)
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
