"""Adadelta: AdaGrad's per-coordinate scaling with a leaky cache, and steps in the units of the parameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.optim.optimizer import (
    Optimizer,
    Params,
    check_non_negative,
    check_torch_flags,
    decay_square_,
    step_state,
    zeros_state,
)


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, *ADADELTA: An adaptive learning rate method*, arXiv 2012).

    Running averages of the squared gradients (``square_avg``) and of the squared updates (``acc_delta``)
    replace AdaGrad's ever-growing sum; their ratio gives the step the units of the parameters, so ``lr`` (1.0
    in the paper) needs no tuning::

        square_avg = rho * square_avg + (1 - rho) * dx ** 2
        delta      = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * dx
        acc_delta  = rho * acc_delta + (1 - rho) * delta ** 2
        x -= lr * delta

    with ``dx = grad + weight_decay * x`` (negated first if ``maximize``).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        **torch_flags: Any,
    ) -> None:
        check_torch_flags(torch_flags)
        check_non_negative(learning_rate=lr, epsilon_value=eps, weight_decay_value=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        for param, grad, key in self._with_grads(group):
            state = self.state[key]
            if not state:
                state["step"] = step_state()
                state["square_avg"] = zeros_state(param)
                state["acc_delta"] = zeros_state(param)
            self._next_step(state)
            g = self._gradient(param, grad, group["weight_decay"], group["maximize"])
            square_avg, acc_delta = state["square_avg"].array, state["acc_delta"].array
            decay_square_(square_avg, g, rho, self._buffer(param, 1))
            std = np.add(square_avg, eps, out=self._buffer(param, 1))
            np.sqrt(std, out=std)
            delta = np.add(acc_delta, eps, out=self._buffer(param, 2))
            np.sqrt(delta, out=delta)
            delta /= std
            delta *= g
            decay_square_(acc_delta, delta, rho, self._buffer(param, 1))
            param -= np.multiply(delta, lr, out=delta)
