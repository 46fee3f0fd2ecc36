"""Activation functions beyond the engine's (relu, sigmoid, tanh, softmax live in ``ember.ops``).

- Leaky ReLU (Maas et al. 2013): max(0.01 x, x), so that units never "die" (no zero gradient for x < 0).
- PReLU (He et al. 2015): the negative slope is a learned parameter, one per channel or one shared.
- ELU (Clevert et al. 2015): alpha (e^x - 1) for x <= 0; closer to zero-mean outputs, smooth at 0.
- SiLU / swish (x sigmoid(x)) and GELU (x Phi(x), Hendrycks and Gimpel 2016).
- Maxout (Goodfellow et al. 2013): the maximum of k linear pieces, max(w_1^T x + b_1, ..., w_k^T x + b_k),
  which generalizes ReLU and leaky ReLU and never saturates, at k times the parameters.
Each is a ``Function`` whose backward reuses what forward computed.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ember import ops
from ember.autograd import Context, Function, Tensor
from ember.ops import dual
from ember.ops.broadcast import reshaped, unbroadcast
from ember.ops.elementwise import masked_by
from ember.ops.linalg import Linear as LinearFunction


class LeakyReLU(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, negative_slope: float) -> np.ndarray:
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.slope = negative_slope
        return np.where(positive, x, x * x.dtype.type(negative_slope))

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        (positive,) = ctx.saved_tensors
        routed = dual.where(positive, grad, grad * grad.dtype.type(ctx.slope))
        return masked_by(ctx.inputs[0], routed), None


class PReLU(Function):
    """x for x > 0, a x otherwise, with a learned ``a``: one shared, or one per channel (dimension 1)."""

    @staticmethod
    def composite(x: Tensor, weight: Tensor) -> Tensor:
        """The same from Ember operations (gradients of gradients, ``ember.autograd.backprop``)."""
        slope = (
            weight.reshape(())
            if weight.numel() == 1
            else weight.reshape(_per_channel(weight.array, x.ndim).shape)
        )
        return ops.where(x.array > 0, x, x * slope)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        slope = _per_channel(weight, x.ndim)
        positive = x > 0
        ctx.save_for_backward(x, slope, positive)
        ctx.weight_shape = weight.shape
        return np.where(positive, x, x * slope)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, Any]:
        x, slope, positive = ctx.saved_tensors
        x_needs, w_needs = ctx.needs_input_grad
        grad_x = np.where(positive, grad, grad * slope) if x_needs else None
        grad_w = None
        if w_needs:
            grad_w = reshaped(unbroadcast(grad * np.minimum(x, 0), slope.shape), ctx.weight_shape)
        return grad_x, grad_w


def _per_channel(weight: np.ndarray, ndim: int) -> np.ndarray:
    if weight.size == 1:
        return weight.reshape(())
    return weight.reshape((1, weight.size) + (1,) * (ndim - 2))


class ELU(Function):
    differentiable_backward = True  # the backward below also runs on tensors (create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, alpha: float) -> np.ndarray:
        alpha_ = x.dtype.type(alpha)
        out = np.where(x > 0, x, alpha_ * np.expm1(np.minimum(x, 0)))
        ctx.save_for_backward(x, out)
        ctx.alpha = alpha_
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        x, out = ctx.saved_tensors
        return dual.where(x > 0, grad, grad * (out + ctx.alpha)), None  # alpha e^x = out + alpha


class SiLU(Function):
    """x sigmoid(x); d/dx = s (1 + x (1 - s))."""

    @staticmethod
    def composite(x: Tensor) -> Tensor:
        return x * ops.sigmoid(x)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # e^-x = inf for very negative x gives exactly s = 0
            s = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        x, s = ctx.saved_tensors
        return grad * s * (1 + x * (1 - s))


_erf = np.frompyfunc(math.erf, 1, 1)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class GELU(Function):
    """x Phi(x): exact (erf, one element at a time: slow on large tensors) or the tanh approximation."""

    @staticmethod
    def composite(x: Tensor, approximate: str) -> Any:
        if approximate != "tanh":
            return NotImplemented  # Ember has no erf operation
        return 0.5 * x * (1 + ops.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, approximate: str) -> np.ndarray:
        dtype = x.dtype
        x64 = x.astype(np.float64)
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x64 + 0.044715 * x64**3)
            t = np.tanh(inner)
            cdf = 0.5 * (1 + t)
            ctx.save_for_backward(x64, cdf, t)
        else:
            cdf = 0.5 * (1 + np.asarray(_erf(x64 / math.sqrt(2)), dtype=np.float64))
            ctx.save_for_backward(x64, cdf, None)
        return (x64 * cdf).astype(dtype)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, None]:
        x, cdf, t = ctx.saved_tensors
        if t is None:
            pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            local = cdf + x * pdf
        else:
            local = cdf + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return (grad * local).astype(grad.dtype), None


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else ops.relu(input)


# ``inplace`` is accepted for PyTorch's signatures; except for relu the result is a new tensor.
def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return LeakyReLU.apply(input, negative_slope)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    channels = input.shape[1] if input.ndim >= 2 else 1  # as PyTorch: a 1-D input has one channel
    if weight.numel() not in (1, channels):
        raise ValueError(
            f"prelu: the weight has {weight.numel()} parameters but the input has {channels} channels "
            f"(input shape {tuple(input.shape)}); use 1 or the number of channels"
        )
    return PReLU.apply(input, weight)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return ELU.apply(input, alpha)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return SiLU.apply(input)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(input, approximate)


def sigmoid(input: Tensor) -> Tensor:
    return ops.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return ops.tanh(input)


def softmax_dim(ndim: int, name: str) -> int:
    """PyTorch's old implicit choice of dimension when none is given (with its warning)."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
        "as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    return ops.softmax(x, softmax_dim(x.ndim, "softmax") if dim is None else dim)


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    return ops.log_softmax(x, softmax_dim(x.ndim, "log_softmax") if dim is None else dim)


def maxout(input: Tensor, weight: Tensor, bias: Tensor | None, pieces: int) -> Tensor:
    """max over k = ``pieces`` affine maps; rows [j k, (j + 1) k) of weight (out * k, in) serve output j."""
    scores = LinearFunction.apply(input, weight, bias)
    return ops.amax(ops.reshape(scores, (*scores.shape[:-1], weight.shape[0] // pieces, pieces)), -1)
