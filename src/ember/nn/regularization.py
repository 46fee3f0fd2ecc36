"""Regularization as loss terms: L = (1/N) sum_i L_i + lambda R(W).

The course's regularizers, which prefer simpler models (Occam's razor) and fight overfitting:
- L2, R(W) = sum_k W_k^2: spreads the weights out; its gradient 2 lambda W shrinks every weight toward zero
  at each step, hence "weight decay" (it equals SGD's ``weight_decay = 2 lambda``);
- L1, R(W) = sum_k |W_k|: drives weights to exactly zero (sparse weights);
- elastic net, R(W) = sum_k beta W_k^2 + |W_k|.

The penalty applies to a chosen set of parameters. By default these are the *weights*: the parameters with
more than one dimension (Linear and Conv weights), not the biases, nor batch norm's gamma and beta, which
are vectors and which regularizing would only hurt. ``include`` selects differently: a glob pattern on the
dotted names (``"*.weight"``), a function ``(name, parameter) -> bool``, or pass an explicit list of tensors
instead of a module.

Functional form: ``loss = criterion(out, y) + l2(model, 1e-4)``. Module form, for reuse:
``reg = L2(model, 1e-4)`` then ``loss = criterion(out, y) + reg()``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ember.autograd import Context, Function, Tensor
from ember.nn.module import Module

Selector = str | Callable[[str, Tensor], bool] | None
Source = Module | Iterable[Tensor] | Iterable[tuple[str, Tensor]]


def is_weight(name: str, parameter: Tensor) -> bool:
    """The default choice: parameters with more than one dimension (weights, not biases or BN scales)."""
    return parameter.ndim > 1


def select_parameters(source: Source, include: Selector = None) -> list[Tensor]:
    """The tensors to regularize: from a module (weights by default) or an explicit list (all of it)."""
    if isinstance(source, Module):
        named: list[tuple[str, Tensor]] = list(source.named_parameters())
        chooser = is_weight if include is None else include
    else:
        items = list(source)
        named = [item if isinstance(item, tuple) else ("", item) for item in items]
        chooser = (lambda name, parameter: True) if include is None else include
    if isinstance(chooser, str):
        pattern = chooser
        return [p for name, p in named if fnmatch.fnmatchcase(name, pattern)]
    return [p for name, p in named if chooser(name, p)]


class Penalty(Function):
    """sum over all given tensors of beta W^2 (L2 part) + |W| (L1 part), as one node of the graph."""

    @staticmethod
    def forward(ctx: Context, *arrays_and_weights: Any) -> np.ndarray:
        *arrays, squares, absolutes = arrays_and_weights
        total = 0.0
        for a in arrays:
            flat = a.reshape(-1)
            if squares:
                total += squares * float(np.dot(flat, flat))
            if absolutes:
                total += absolutes * float(np.abs(flat).sum())
        ctx.save_for_backward(*arrays)
        ctx.weights = (squares, absolutes)
        return np.asarray(total, dtype=arrays[0].dtype if arrays else np.float32)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[Any, ...]:
        arrays = ctx.saved_tensors
        squares, absolutes = ctx.weights
        grads: list[np.ndarray | None] = []
        for a, needed in zip(arrays, ctx.needs_input_grad, strict=False):
            if not needed:
                grads.append(None)
                continue
            local = a * a.dtype.type(2 * squares) if squares else np.zeros_like(a)
            if absolutes:
                local += np.sign(a) * a.dtype.type(absolutes)
            grads.append(local * grad)
        return (*grads, None, None)


def penalty(parameters: list[Tensor], squares: float, absolutes: float) -> Tensor:
    """squares * sum W^2 + absolutes * sum |W| over ``parameters`` (a 0-d tensor in the graph)."""
    return Penalty.apply(*parameters, squares, absolutes)


def l2(source: Source, lam: float, include: Selector = None) -> Tensor:
    """lambda * sum W^2 (the course's L2 regularization, "weight decay")."""
    return penalty(select_parameters(source, include), lam, 0.0)


def l1(source: Source, lam: float, include: Selector = None) -> Tensor:
    """lambda * sum |W| (L1 regularization: sparse weights)."""
    return penalty(select_parameters(source, include), 0.0, lam)


def elastic_net(source: Source, lam: float, beta: float = 0.5, include: Selector = None) -> Tensor:
    """lambda * sum (beta W^2 + |W|) (elastic net: L1 and L2 combined)."""
    return penalty(select_parameters(source, include), lam * beta, lam)


class Regularizer:
    """A penalty term bound to a model: ``reg = L2(model, 1e-4)``, then ``loss = data_loss + reg()``.

    The parameters are looked up at each call, so layers added (or frozen) later are taken into account;
    parameters that do not require grad are skipped.
    """

    squares = 0.0
    absolutes = 0.0

    def __init__(self, source: Source, lam: float, include: Selector = None) -> None:
        if lam < 0:
            raise ValueError(f"{type(self).__name__}: the strength lambda must be non-negative, got {lam}")
        self.source = source if isinstance(source, Module) else list(source)
        self.lam, self.include = lam, include

    def parameters(self) -> list[Tensor]:
        return [p for p in select_parameters(self.source, self.include) if p.requires_grad]

    def __call__(self) -> Tensor:
        return penalty(self.parameters(), self.lam * self.squares, self.lam * self.absolutes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lam={self.lam})"


class L2(Regularizer):
    """lambda * sum W^2."""

    squares = 1.0


class L1(Regularizer):
    """lambda * sum |W|."""

    absolutes = 1.0


class ElasticNet(Regularizer):
    """lambda * sum (beta W^2 + |W|)."""

    absolutes = 1.0

    def __init__(self, source: Source, lam: float, beta: float = 0.5, include: Selector = None) -> None:
        super().__init__(source, lam, include)
        self.beta = beta
        self.squares = beta

    def __repr__(self) -> str:
        return f"ElasticNet(lam={self.lam}, beta={self.beta})"
