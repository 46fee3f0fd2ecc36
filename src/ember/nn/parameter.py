"""``Parameter``: a tensor that a ``Module`` owns and an optimizer updates (the W and b of the course).

Assigning a Parameter as a module attribute registers it, so ``module.parameters()`` finds it; W and b are
learned, not hyperparameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and is registered by the module that holds it."""

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        # Share the array of a given tensor or NumPy array, as torch.nn.Parameter shares storage.
        array = data.array if isinstance(data, Tensor) else data
        if array is None:
            array = np.empty(0, dtype=np.float32)
        super().__init__(np.zeros(0, dtype=np.float32))
        self.data = from_numpy(
            array if isinstance(array, np.ndarray) else np.asarray(array, dtype=np.float32)
        )
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (Parameter, (self.array, self.requires_grad))


class Buffer(Tensor):
    """Marks a tensor to register as a buffer: saved state that is not learned (e.g. running means)."""

    def __init__(self, data: Any, persistent: bool = True) -> None:
        super().__init__(np.zeros(0, dtype=np.float32))
        self.data = from_numpy(data.array if isinstance(data, Tensor) else np.asarray(data))
        self.persistent = persistent
