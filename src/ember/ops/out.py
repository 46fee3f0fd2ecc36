"""``out=``: writing an operation's result into a given tensor, with PyTorch's rules.

``torch.add(a, b, out=c)`` computes ``a + b`` into ``c`` and returns ``c``. The rules: the write is an
in-place change of ``out`` (its version counter moves on), so it is refused while a gradient is recorded
for one of the arguments ("functions with out=... arguments don't support automatic differentiation");
the result must cast to ``out``'s type within its kind (a float result cannot go into an integer tensor);
and an ``out`` of another shape is resized to the result's (with a warning if it held elements).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy, is_grad_enabled, no_grad


def written(name: str, result: Tensor, out: Any) -> Tensor:
    """``result`` itself without ``out``, else ``out`` holding it (see the module docstring)."""
    if out is None:
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be a Tensor, not {type(out).__name__}")
    if result.requires_grad or (out.requires_grad and is_grad_enabled()):
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic differentiation, but one "
            "of the arguments requires grad. Call it under `with ember.no_grad():`, or drop out=."
        )
    if not np.can_cast(result.dtype, out.dtype, "same_kind"):
        raise RuntimeError(
            f"{name}(): result type {result.dtype} can't be cast to the desired output type {out.dtype}"
        )
    if out.shape != result.shape:
        if out.numel():
            warnings.warn(
                f"{name}(): an output with one or more elements was resized since it had shape "
                f"{list(out.shape)}, which does not match the required output shape {list(result.shape)}",
                UserWarning,
                stacklevel=3,
            )
        out.data = from_numpy(np.array(result.array, dtype=out.dtype))
        return out
    with no_grad():
        out.copy_(result)
    return out
