"""RMSprop: AdaGrad with a leaky cache, so that the effective learning rate does not decay to zero."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.optim.optimizer import (
    Optimizer,
    Params,
    check_non_negative,
    check_torch_flags,
    decay_square_,
    lerp_,
    step_state,
    zeros_state,
)


class RMSprop(Optimizer):
    r"""RMSprop (Tieleman & Hinton, *Lecture 6e, rmsprop: divide the gradient by a running average of its
    recent magnitude*, COURSERA: Neural Networks for Machine Learning, 2012).

    The lecture's rule, with ``decay_rate`` called ``alpha`` as in PyTorch::

        cache = alpha * cache + (1 - alpha) * dx ** 2
        x -= lr * dx / (sqrt(cache) + eps)

    ``centered=True`` divides by an estimate of the gradient's standard deviation instead, subtracting the
    square of a running mean ``m = alpha m + (1 - alpha) dx`` (Graves, *Generating sequences with recurrent
    neural networks*, 2013): ``sqrt(cache - m ** 2)``. With ``momentum > 0`` the scaled gradient feeds a
    velocity: ``v = momentum * v + dx / (sqrt(cache) + eps); x -= lr * v``. ``dx = grad + weight_decay * x``
    (negated first if ``maximize``). The cache forgets old gradients, so unlike AdaGrad's the step size does
    not keep shrinking.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        **torch_flags: Any,
    ) -> None:
        check_torch_flags(torch_flags)
        check_non_negative(
            learning_rate=lr,
            epsilon_value=eps,
            momentum_value=momentum,
            weight_decay_value=weight_decay,
            alpha_value=alpha,
        )
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        momentum, centered = group["momentum"], group["centered"]
        for param, grad, key in self._with_grads(group):
            state = self.state[key]
            if not state:
                state["step"] = step_state()
                state["square_avg"] = zeros_state(param)
                if momentum > 0:
                    state["momentum_buffer"] = zeros_state(param)
                if centered:
                    state["grad_avg"] = zeros_state(param)
            self._next_step(state)
            g = self._gradient(param, grad, group["weight_decay"], group["maximize"])
            square_avg = state["square_avg"].array
            decay_square_(square_avg, g, alpha, self._buffer(param, 1))
            average = self._buffer(param, 1)
            if centered:
                grad_avg = state["grad_avg"].array
                lerp_(grad_avg, g, 1 - alpha, self._buffer(param, 2))
                np.multiply(grad_avg, grad_avg, out=average)
                np.subtract(square_avg, average, out=average)
                np.sqrt(average, out=average)
            else:
                np.sqrt(square_avg, out=average)
            average += eps
            if momentum > 0:
                velocity = state["momentum_buffer"].array
                velocity *= momentum
                velocity += np.divide(g, average, out=average)
                param -= np.multiply(velocity, lr, out=average)
            else:
                update = np.divide(g, average, out=average)
                update *= lr
                param -= update
