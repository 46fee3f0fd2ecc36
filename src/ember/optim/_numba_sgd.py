"""Compiled kernel (numba) for SGD's momentum step: the whole update of one parameter in one pass.

Its NumPy twin (``SGD._update_group``) walks the parameter's memory five times (the decayed gradient, the
velocity's scaling and sum, the step's product, the subtraction); this loop reads the gradient, the
parameter and the velocity once and writes the last two, with the same operations in the same order, so the
same numbers: the caller passes the hyperparameters as scalars of the parameter's type, as NumPy rounds
them. On flat, contiguous float arrays; serial, free of the GIL.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True)
def sgd_momentum(param, grad, velocity, lr, momentum, keep, weight_decay, nesterov, maximize):
    """g = (-)grad + weight_decay * param; v = momentum * v + keep * g (keep = 1 - dampening, skipped when
    1); param -= lr * (g + momentum * v if nesterov else v)."""
    for i in range(param.size):
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = param[i] * weight_decay + g
        v = velocity[i] * momentum
        v = v + (g * keep if keep != 1 else g)
        velocity[i] = v
        direction = v * momentum + g if nesterov else v
        param[i] = param[i] - direction * lr
