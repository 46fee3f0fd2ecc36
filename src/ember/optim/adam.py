"""Adam and AdamW: momentum on the gradient plus RMSprop's per-coordinate scaling, with bias correction."""

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


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, *Adam: A method for stochastic optimization*, ICLR 2015).

    A first moment ``m`` (momentum) and a second moment ``v`` (RMSprop's cache) of the gradient, both
    exponential averages that start at zero; dividing by ``1 - beta ** t`` removes that bias towards zero, so
    the first step has size ``lr`` in every coordinate (``m / sqrt(v) = dx / |dx|``). The lecture's full
    form::

        m = beta1 * m + (1 - beta1) * dx
        v = beta2 * v + (1 - beta2) * dx ** 2
        m_hat = m / (1 - beta1 ** t);  v_hat = v / (1 - beta2 ** t)
        x -= lr * m_hat / (sqrt(v_hat) + eps)

    with ``dx = grad + weight_decay * x`` (an L2 penalty in the loss; negated first if ``maximize``).
    ``amsgrad=True`` divides by the running maximum of ``v`` instead (Reddi, Kale & Kumar, *On the convergence
    of Adam and beyond*, ICLR 2018). ``decoupled_weight_decay=True`` is AdamW.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        **torch_flags: Any,
    ) -> None:
        check_torch_flags(torch_flags)
        check_non_negative(learning_rate=lr, epsilon_value=eps, weight_decay_value=weight_decay)
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {beta}")
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, amsgrad, decoupled = (
            group["weight_decay"],
            group["amsgrad"],
            group["decoupled_weight_decay"],
        )
        for param, grad, key in self._with_grads(group):
            state = self.state[key]
            if not state:
                state["step"] = step_state()
                state["exp_avg"] = zeros_state(param)
                state["exp_avg_sq"] = zeros_state(param)
                if amsgrad:
                    state["max_exp_avg_sq"] = zeros_state(param)
            step = self._next_step(state)
            if decoupled:
                if weight_decay:
                    param *= 1 - lr * weight_decay
                g = self._gradient(param, grad, 0.0, group["maximize"])
            else:
                g = self._gradient(param, grad, weight_decay, group["maximize"])
            exp_avg, exp_avg_sq = state["exp_avg"].array, state["exp_avg_sq"].array
            lerp_(exp_avg, g, 1 - beta1, self._buffer(param, 1))
            decay_square_(exp_avg_sq, g, beta2, self._buffer(param, 1))
            second_moment = exp_avg_sq
            if amsgrad:
                second_moment = np.maximum(
                    state["max_exp_avg_sq"].array, exp_avg_sq, out=state["max_exp_avg_sq"].array
                )
            # With c1 = 1 - beta1^t, c2 = sqrt(1 - beta2^t): lr m_hat / (sqrt(v_hat) + eps) =
            # (lr c2 / c1) m / (sqrt(v) + eps c2): one pass fewer over the parameters (as PyTorch's capturable
            # form computes it).
            correction2 = (1 - beta2**step) ** 0.5
            denominator = np.sqrt(second_moment, out=self._buffer(param, 1))
            denominator += eps * correction2
            update = np.divide(exp_avg, denominator, out=denominator)
            update *= lr * correction2 / (1 - beta1**step)
            param -= update


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter, *Decoupled weight decay regularization*, ICLR 2019).

    Adam with the weight decay taken out of the gradient: with an L2 term in the loss, Adam divides the decay
    by ``sqrt(v_hat)`` too, so heavily-updated weights are decayed less. AdamW shrinks the weights directly,
    by the same factor for all, before Adam's step::

        x *= 1 - lr * weight_decay
        (Adam's update with dx = grad)
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        **torch_flags: Any,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
            **torch_flags,
        )
