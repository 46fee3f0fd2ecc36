"""Stochastic gradient descent, with momentum (Polyak's heavy ball) and Nesterov's accelerated gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import from_numpy
from ember.compiled import compilable
from ember.optim.optimizer import Optimizer, Params, check_non_negative, check_torch_flags


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum or Nesterov momentum.

    Plain SGD steps against the gradient: ``x -= lr * dx``. With momentum ``mu`` a velocity ``v`` integrates
    the gradients (a running sum, "friction" ``mu``) and the position follows the velocity, which damps the
    oscillation across a ravine of an ill-conditioned loss and speeds progress along it (Sutskever, Martens,
    Dahl & Hinton, *On the importance of initialization and momentum in deep learning*, ICML 2013). Ember uses
    PyTorch's form, with ``g = dx + weight_decay * x`` (negated first if ``maximize``)::

        v = mu * v + (1 - dampening) * g        # v = g on the first step
        x -= lr * v                             # momentum
        x -= lr * (g + mu * v)                  # nesterov=True

    The lectures write momentum in two forms. ``v = rho v + dx; x -= lr v`` is this one (``rho = mu``,
    ``dampening = 0``). ``v' = mu v' - lr dx; x += v'`` is the same iteration for a constant ``lr``: by
    induction ``v' = -lr v`` (``v'_{t+1} = mu (-lr v_t) - lr dx = -lr (mu v_t + dx) = -lr v_{t+1}``). They
    differ only when ``lr`` changes: the second form has the old learning rates baked into its velocity, so a
    schedule takes effect gradually, while PyTorch's form rescales the whole step at once. Ember follows
    PyTorch so that a schedule gives the same trajectory as in PyTorch.

    Nesterov momentum (Nesterov 1983, *A method for solving the convex programming problem with convergence
    rate O(1/k^2)*; for deep learning, Sutskever et al. 2013) takes the gradient at the look-ahead point
    ``x + mu v'``. The lecture's practical form tracks that point, ``x~``, instead of ``x``::

        v_prev = v';  v' = mu v' - lr dx;  x~ += -mu v_prev + (1 + mu) v'

    With ``v' = -lr v`` its step is ``-lr ((1 + mu) v - mu v_prev)``, and since ``v = mu v_prev + dx``,
    ``(1 + mu) v - mu v_prev = dx + mu v``: the step is ``-lr (dx + mu v)``, the ``nesterov=True`` line above
    (the same iterates while ``lr`` is constant).
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        **torch_flags: Any,
    ) -> None:
        check_torch_flags(torch_flags)
        check_non_negative(learning_rate=lr, momentum_value=momentum, weight_decay_value=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
        for param, grad, key in self._with_grads(group):
            buffer = self.state[key].get("momentum_buffer") if momentum != 0 else None
            if buffer is not None and compilable(param, grad, buffer.array):
                scalar = param.dtype.type  # the hyperparameters as NumPy rounds them for this dtype
                compiled_sgd().sgd_momentum(
                    param.reshape(-1), grad.reshape(-1), buffer.array.reshape(-1), scalar(lr),
                    scalar(momentum), scalar(1 - dampening), scalar(weight_decay), nesterov, maximize,
                )  # fmt: skip
                continue
            g = self._gradient(param, grad, weight_decay, maximize)
            direction = g
            if momentum != 0:
                state = self.state[key]
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    state["momentum_buffer"] = from_numpy(np.array(g, copy=True))
                    velocity = state["momentum_buffer"].array
                else:
                    velocity = buffer.array
                    velocity *= momentum
                    if dampening:
                        velocity += np.multiply(g, 1 - dampening, out=self._buffer(param, 1))
                    else:
                        velocity += g
                if nesterov:
                    direction = np.multiply(velocity, momentum, out=self._buffer(param, 2))
                    direction += g
                else:
                    direction = velocity
            param -= np.multiply(direction, lr, out=self._buffer(param, 1))


def compiled_sgd() -> Any:
    """The compiled momentum step (``_numba_sgd``, imported on first use; ``compilable`` says when)."""
    from ember.optim import _numba_sgd

    return _numba_sgd
