"""``ember.cuda``: PyTorch's CUDA questions, answered truthfully: Ember has no GPU.

``is_available()`` is False and ``device_count()`` 0, so ``"cuda" if ember.cuda.is_available() else "cpu"``
picks the CPU. Seeding and cache calls do nothing (as in a CPU-only PyTorch); anything that needs a GPU
raises ``DeviceUnavailableError`` (an ``AssertionError``, as PyTorch's "not compiled with CUDA enabled").
"""

from __future__ import annotations

from typing import Any

from ember.devices import device, unavailable


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def manual_seed(seed: int) -> None:
    """Nothing to seed (PyTorch also accepts this call without a GPU)."""


def manual_seed_all(seed: int) -> None:
    """Nothing to seed."""


def empty_cache() -> None:
    """No GPU memory to release."""


def _no_cuda(*args: Any, **kwargs: Any) -> Any:
    raise unavailable(device("cuda"), "ember.cuda")


current_device = get_device_name = get_device_properties = set_device = synchronize = _no_cuda
