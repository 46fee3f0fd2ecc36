"""Fully connected layers: ``Linear`` (the course's score function f(x, W, b) = Wx + b) and ``Identity``.

A linear layer computes y = x W^T + b for x of shape (..., in_features), one GEMM forward and two backward
(``ember.ops.linear``, which fuses the bias). Its default initialization is PyTorch's: W ~ U(-1/sqrt(fan_in),
1/sqrt(fan_in)) (``kaiming_uniform_`` with a = sqrt(5)) and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ember import dtypes
from ember.autograd import Tensor
from ember.nn import init
from ember.nn.module import Module
from ember.nn.parameter import Parameter
from ember.nn.shape_check import input_shape_error
from ember.ops.linalg import Linear as LinearFunction


def new_parameter(shape: tuple[int, ...], dtype: Any = None) -> Parameter:
    """An uninitialized parameter of the given shape (float32 unless ``dtype`` says otherwise)."""
    return Parameter(np.empty(shape, dtype=dtypes.as_dtype(dtype)))


def init_bias_from_fan_in(bias: Tensor | None, weight: Tensor) -> None:
    """PyTorch's default bias of Linear and Conv layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    if bias is None:
        return
    fan_in, _ = init.fan_in_and_fan_out(weight)
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    init.uniform_(bias, -bound, bound)


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. to remove a layer); any arguments are ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x W^T + b, with W of shape (out_features, in_features) and b of shape (out_features,)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = new_parameter((out_features, in_features), dtype)
        if bias:
            self.bias = new_parameter((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        init_bias_from_fan_in(self.bias, self.weight)

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        if not shape or shape[-1] != self.in_features:
            raise input_shape_error(self, f"(..., {self.in_features})", shape)
        return LinearFunction.apply(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )
