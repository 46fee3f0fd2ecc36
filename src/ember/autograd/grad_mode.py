"""Gradient recording on and off: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

Inference needs no graph: under ``no_grad()`` operations record nothing and save nothing for backward,
so memory and time are spent on the forward computation only (as ``torch.no_grad``).

The mode belongs to the thread that sets it, as in PyTorch: ``no_grad()`` in the main thread leaves the
loader's worker threads and any other thread recording, and every new thread starts with recording on.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _GradState(threading.local):
    enabled = True  # each thread sees this default until it sets its own value


STATE = _GradState()


def is_grad_enabled() -> bool:
    """Whether operations in the calling thread currently record the graph for backward."""
    return STATE.enabled


class set_grad_enabled:
    """Context manager (and decorator) that sets gradient recording on or off in the calling thread."""

    def __init__(self, mode: bool) -> None:
        self.previous = STATE.enabled
        self.mode = bool(mode)
        STATE.enabled = self.mode

    def __enter__(self) -> None:
        STATE.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        STATE.enabled = self.previous


class _GradModeContext:
    mode: bool

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:  # @no_grad without parentheses, as PyTorch
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self) -> None:
        self.previous = STATE.enabled
        STATE.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        STATE.enabled = self.previous

    def __call__(self, fn: F) -> F:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            previous = STATE.enabled
            STATE.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                STATE.enabled = previous

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):
    """Record no graph inside the block (or the decorated function, ``@no_grad()`` or ``@no_grad``):
    inference and parameter updates."""

    mode = False


class enable_grad(_GradModeContext):
    """Record the graph inside the block, even within ``no_grad``."""

    mode = True


class inference_mode(_GradModeContext):
    """``torch.inference_mode``: here the same as ``no_grad`` (nothing is recorded inside the block or the
    decorated function); ``inference_mode(False)`` records, as ``enable_grad``. PyTorch also marks the
    tensors made inside as inference tensors, refused later by autograd; Ember's are ordinary tensors
    without a graph."""

    def __init__(self, mode: bool = True) -> None:
        self.mode = not mode
