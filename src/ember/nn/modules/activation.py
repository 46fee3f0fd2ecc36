"""Activation functions as modules: the nonlinearities between the layers (and ``Maxout``, a layer itself).

Without a nonlinearity a stack of linear layers is one linear map. The course's list: sigmoid and tanh
(saturate, kill gradients; sigmoid is not zero-centered), ReLU (does not saturate for x > 0, converges fast;
can die), Leaky ReLU, PReLU, ELU, Maxout. The mathematics lives in ``ember.ops`` and
``ember.nn.functional.activation``.
"""

from __future__ import annotations

from typing import Any

from ember import ops
from ember.autograd import Tensor
from ember.nn import init
from ember.nn.functional import activation as functional
from ember.nn.functional.activation import ELU as ELUFunction
from ember.nn.functional.activation import LeakyReLU as LeakyReLUFunction
from ember.nn.functional.activation import SiLU as SiLUFunction
from ember.nn.module import Module
from ember.nn.modules.linear import Linear, new_parameter
from ember.ops.elementwise import ReLU as ReLUFunction
from ember.ops.elementwise import Sigmoid as SigmoidFunction
from ember.ops.elementwise import Tanh as TanhFunction


class ReLU(Module):
    """max(0, x)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return input.relu_() if self.inplace else ReLUFunction.apply(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """max(negative_slope x, x) (for 0 <= negative_slope <= 1)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return LeakyReLUFunction.apply(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class PReLU(Module):
    """max(0, x) + a min(0, x) with a learned slope ``a``: one shared, or one per channel (dimension 1)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = new_parameter((num_parameters,), dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)  # the module: ``init`` the argument lives in __init__ only

    def forward(self, input: Tensor) -> Tensor:
        return functional.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(Module):
    """x for x > 0, alpha (e^x - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return ELUFunction.apply(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SiLU(Module):
    """x sigmoid(x) (swish)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return SiLUFunction.apply(input)


class GELU(Module):
    """x Phi(x), Phi the standard normal CDF; ``approximate='tanh'`` for the tanh approximation."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return functional.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, input: Tensor) -> Tensor:
        return SigmoidFunction.apply(input)


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        return TanhFunction.apply(input)


class Softmax(Module):
    """e^x / sum(e^x) along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return functional.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``dim``, computed stably (x - logsumexp(x))."""

    def forward(self, input: Tensor) -> Tensor:
        return functional.log_softmax(input, self.dim)


class Maxout(Linear):
    """Maxout (Goodfellow et al. 2013, "Maxout Networks"): y_j = max_k (W_jk x + b_jk), k = 1..pieces.

    ``Maxout(in_features, out_features, pieces)`` is a ``Linear(in_features, out_features * pieces)`` whose
    outputs are grouped in consecutive runs of ``pieces`` and reduced by their maximum. It generalizes ReLU
    (pieces 2, one of them zero) and does not saturate; the price is ``pieces`` times the parameters.
    Parameters (``weight`` (out_features * pieces, in_features), ``bias``) and their initialization are that
    Linear layer's.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        pieces: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be at least 1, got {pieces}")
        super().__init__(in_features, out_features * pieces, bias, device, dtype)
        self.out_features, self.pieces = out_features, pieces

    def forward(self, input: Tensor) -> Tensor:
        scores = super().forward(input)
        return ops.amax(ops.reshape(scores, (*scores.shape[:-1], self.out_features, self.pieces)), -1)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}, "
            f"bias={self.bias is not None}"
        )
