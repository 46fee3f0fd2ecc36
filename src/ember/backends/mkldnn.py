"""``ember.backends.mkldnn``: PyTorch's switch for its oneDNN (once MKL-DNN) CPU kernels, here the optional
oneDNN backend of Ember's float32 convolutions and matrix products (``docs/performance.md``).
``enabled = False``, or ``with flags(enabled=False):``, sends them to NumPy (the convolutions to the NumPy
kernels, the reference); ``EMBER_ONEDNN=0`` does the same for a whole process. ``is_available()`` says
whether Debian's ``libdnnl2`` loaded."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

enabled = True
deterministic = False  # accepted as PyTorch's; Ember's kernels give the same numbers run to run

_probes: list[Callable[[], bool]] = []


def register(probe: Callable[[], bool]) -> None:
    """How the library's module (``ember.backends._dnnl``, which reads ``enabled``) says it loaded."""
    _probes.append(probe)


def is_available() -> bool:
    """Whether oneDNN is installed and usable here (whatever ``enabled`` says)."""
    return any(probe() for probe in _probes)


@contextlib.contextmanager
def flags(enabled: bool = False, deterministic: bool = False) -> Iterator[None]:
    """``with ember.backends.mkldnn.flags(enabled=False):`` as PyTorch's; the old values come back after."""
    module = globals()
    old = module["enabled"], module["deterministic"]
    module["enabled"], module["deterministic"] = enabled, deterministic
    try:
        yield
    finally:
        module["enabled"], module["deterministic"] = old
