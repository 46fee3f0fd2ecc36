"""``ember.accelerator``: PyTorch's device-agnostic questions (``torch.accelerator``): there is none.

The idiom ``ember.accelerator.current_accelerator().type if ember.accelerator.is_available() else "cpu"``
gives ``"cpu"``; ``current_accelerator()`` is None, as in a CPU-only PyTorch.
"""

from __future__ import annotations

from ember.devices import device


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def current_accelerator(check_available: bool = False) -> device | None:
    return None
