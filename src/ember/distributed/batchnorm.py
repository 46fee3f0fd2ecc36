"""``SyncBatchNorm``: batch normalization over the global batch, not each process's part of it.

In data-parallel training each process sees B / N samples; ``BatchNorm2d`` normalizes with those alone
(mean and variance over fewer samples, a noisier estimate, and N different running averages, of which
``DistributedDataParallel`` keeps rank 0's). ``SyncBatchNorm`` sums each channel's statistics over the
processes first (two allreduces of C + 1 and C numbers: the sum, then the centred sum of squares), so that
N processes normalize exactly as one process with the whole batch; its backward pass sums dy and dy x_hat
the same way (one allreduce of 2C numbers). ``SyncBatchNorm.convert_sync_batchnorm(model)`` replaces every
``BatchNorm2d`` of a model, keeping its parameters and running statistics. In eval mode, and in a
one-process group, it is ``BatchNorm2d``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor
from ember.distributed.communicator import Communicator
from ember.distributed.group import get_world
from ember.nn import BatchNorm2d
from ember.nn.functional.normalization import update_running_stats
from ember.nn.module import Module


class SyncBatchNormFunction(Function):
    """y = gamma x_hat + beta with the global batch's mean and variance; per-channel sums in float64."""

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        weight: np.ndarray | None,
        bias: np.ndarray | None,
        running_mean: np.ndarray | None,
        running_var: np.ndarray | None,
        momentum: float,
        eps: float,
        world: Communicator,
    ) -> np.ndarray:
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        channels = x3.shape[1]
        sums = np.empty(channels + 1)
        sums[:channels] = x3.sum(axis=(0, 2), dtype=np.float64)
        sums[channels] = x3.shape[0] * x3.shape[2]
        world.allreduce(sums)
        count = float(sums[channels])
        mean = sums[:channels] / count
        centered = x3 - mean.astype(x.dtype)[None, :, None]
        squares = np.einsum("ncl,ncl->c", centered, centered, dtype=np.float64)
        var = world.allreduce(squares) / count
        if running_mean is not None and running_var is not None:
            update_running_stats(running_mean, running_var, mean, var, count, momentum)
        invstd = 1 / np.sqrt(var + eps)
        x_hat = centered * invstd.astype(x.dtype)[None, :, None]
        out = x_hat if weight is None else x_hat * weight[None, :, None]
        if bias is not None:
            out += bias[None, :, None]
        ctx.save_for_backward(x_hat)
        ctx.scale = invstd if weight is None else invstd * weight
        ctx.count, ctx.world, ctx.shape = count, world, x.shape
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, ...]:
        (x_hat,) = ctx.saved_tensors
        dy = grad.reshape(x_hat.shape)
        channels = x_hat.shape[1]
        sums = np.empty(2 * channels)
        sums[:channels] = dy.sum(axis=(0, 2), dtype=np.float64)
        sums[channels:] = np.einsum("ncl,ncl->c", dy, x_hat, dtype=np.float64)
        grad_bias, grad_weight = sums[:channels].astype(dy.dtype), sums[channels:].astype(dy.dtype)
        grad_x = None
        if ctx.needs_input_grad[0]:  # dx = scale (dy - mean(dy) - x_hat mean(dy x_hat)), global means
            ctx.world.allreduce(sums)
            means = (sums / ctx.count).astype(dy.dtype)
            scale = ctx.scale.astype(dy.dtype)[None, :, None]
            grad_x = scale * (dy - means[None, :channels, None] - x_hat * means[None, channels:, None])
            grad_x = grad_x.reshape(ctx.shape)
        needs = ctx.needs_input_grad
        return (
            grad_x,
            grad_weight if needs[1] else None,
            grad_bias if needs[2] else None,
            None,
            None,
            None,
            None,
            None,
        )


class SyncBatchNorm(BatchNorm2d):
    """``BatchNorm2d`` whose training statistics are those of the whole global batch (PyTorch's name)."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Communicator | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def forward(self, input: Tensor) -> Tensor:
        world = self.process_group if self.process_group is not None else get_world()
        if not self.training or world.size == 1:
            return super().forward(input)
        if input.ndim != 4 or input.shape[1] != self.num_features:
            return super().forward(input)  # BatchNorm2d's own message for a wrong shape
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.array[...] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / int(self.num_batches_tracked.array)
        return SyncBatchNormFunction.apply(
            input, self.weight, self.bias, self.running_mean, self.running_var, factor, self.eps, world
        )

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Communicator | None = None) -> Module:
        """``module`` with every ``BatchNorm2d`` replaced by a ``SyncBatchNorm`` holding its state."""
        if isinstance(module, BatchNorm2d) and not isinstance(module, SyncBatchNorm):
            synced = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
            )
            synced.load_state_dict(module.state_dict())
            synced.train(module.training)
            return synced
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child, process_group)
            if converted is not child:
                module.add_module(name, converted)  # in the child's place
        return module
