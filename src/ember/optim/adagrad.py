"""AdaGrad: a learning rate per coordinate, shrinking with the history of that coordinate's gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy
from ember.optim.optimizer import Optimizer, Params, check_non_negative, check_torch_flags, step_state


class Adagrad(Optimizer):
    r"""AdaGrad (Duchi, Hazan & Singer, *Adaptive subgradient methods for online learning and stochastic
    optimization*, JMLR 2011).

    Each coordinate is scaled by the root of its accumulated squared gradients (``cache``, PyTorch's ``sum``):
    progress along steep directions is damped and along flat ones accelerated. As in the lecture::

        cache += dx ** 2
        x -= lr_t * dx / (sqrt(cache) + eps)      with lr_t = lr / (1 + (t - 1) * lr_decay)

    with ``dx = grad + weight_decay * x`` (negated first if ``maximize``) and ``cache`` starting at
    ``initial_accumulator_value``. The cache only grows, so the effective step ``lr / sqrt(cache)`` shrinks
    over time, eventually too much for deep networks: what RMSprop fixes.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        **torch_flags: Any,
    ) -> None:
        check_torch_flags(torch_flags)
        check_non_negative(
            learning_rate=lr,
            lr_decay=lr_decay,
            weight_decay_value=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            epsilon_value=eps,
        )
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        # PyTorch creates Adagrad's state eagerly, so that it can be shared before the first step.
        for group in self.param_groups:
            for param in group["params"]:
                self._init_state(param, group)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[param]
        if not state:
            state["step"] = step_state()
            state["sum"] = from_numpy(np.full_like(param.array, group["initial_accumulator_value"]))
        return state

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        for param, grad, key in self._with_grads(group):
            state = self._init_state(key, group)
            step = self._next_step(state)
            g = self._gradient(param, grad, group["weight_decay"], group["maximize"])
            cache = state["sum"].array
            square = np.multiply(g, g, out=self._buffer(param, 1))
            cache += square
            denominator = np.sqrt(cache, out=self._buffer(param, 1))
            denominator += eps
            update = np.divide(g, denominator, out=denominator)
            update *= lr / (1 + (step - 1) * lr_decay)
            param -= update
