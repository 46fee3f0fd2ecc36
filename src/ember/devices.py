"""Devices, as PyTorch names them: Ember computes on the CPU, and says so.

``ember.device("cpu")`` is ``torch.device``'s twin (``type``, ``index``, ``str``, equality), so the device
idiom of PyTorch scripts runs unchanged::

    device = "cuda" if ember.cuda.is_available() else "cpu"   # -> "cpu"
    model.to(device); x = x.to(device)

Naming another device is allowed (``ember.device("cuda")`` is just a name, as in PyTorch); putting a tensor
or a module there raises ``DeviceUnavailableError``, PyTorch's error for a build without that device (an
``AssertionError`` for CUDA, a ``RuntimeError`` for MPS: the class is both), with what to do instead.
``ember.cuda``, ``ember.backends.mps`` and ``ember.accelerator`` answer their questions truthfully from here.
"""

from __future__ import annotations

from typing import Any

from ember.errors import EmberError

# Device types PyTorch knows (its parser's list); Ember has only the first.
KNOWN_TYPES = (
    "cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia", "xla",
    "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone",
)  # fmt: skip


class DeviceUnavailableError(EmberError, RuntimeError, AssertionError):
    """A tensor or module was sent to a device other than the CPU (Ember has no other)."""


class device:
    """A device name: ``device("cpu")``, ``device("cuda:1")``, ``device("cuda", 1)`` (``torch.device``)."""

    __slots__ = ("_index", "_type")

    def __init__(self, type: Any, index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, int) and not isinstance(type, bool):
            raise DeviceUnavailableError(
                f"device({type}): an integer names an accelerator device, and Ember has none (CPU only); "
                "use 'cpu'"
            )
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string or a device, got {builtin_type(type).__name__}")
        name, _, number = type.partition(":")
        if name not in KNOWN_TYPES:
            raise ValueError(
                f"device(): expected one of {', '.join(KNOWN_TYPES)} at the start of the device string, "
                f"got '{type}'"
            )
        if number:
            if index is not None or not number.isdigit():
                raise ValueError(f"device(): invalid device string '{type}'")
            index = int(number)
        self._type, self._index = name, index

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        index = "" if self._index is None else f", index={self._index}"
        return f"device(type='{self._type}'{index})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, device) and (self._type, self._index) == (other._type, other._index)

    def __hash__(self) -> int:
        return hash((self._type, self._index))

    def __reduce__(self) -> Any:
        return (device, (self._type, self._index))

    def __enter__(self) -> device:
        """``with ember.device("cpu"):`` (the default device for new tensors: only the CPU here)."""
        check(self, "with device(...)")
        return self

    def __exit__(self, *exc: object) -> None:
        return None


builtin_type = type
CPU = device("cpu")


def check(target: Any, where: str) -> None:
    """Accept ``target`` (None, a device, or a device string) if it is the CPU, or raise saying why not."""
    if target is None or target is CPU:
        return
    found = target if isinstance(target, device) else device(target)
    if found.type != "cpu":
        raise unavailable(found, where)


def unavailable(found: device, where: str) -> DeviceUnavailableError:
    """PyTorch's error for a device its build lacks, with Ember's reason and the way out."""
    name = {"cuda": "CUDA", "mps": "MPS", "xpu": "XPU"}.get(found.type, found.type)
    return DeviceUnavailableError(
        f"{where}: Ember is not compiled with {name} enabled: it computes on the CPU only, so '{found}' "
        "is not available. Use device='cpu', or choose the device as PyTorch scripts do: "
        "'cuda' if ember.cuda.is_available() else 'cpu'"
    )


def is_device(value: Any) -> bool:
    """Whether ``value`` names a device (a device, or a string starting with a device type)."""
    if isinstance(value, device):
        return True
    return isinstance(value, str) and value.partition(":")[0] in KNOWN_TYPES


def get_default_device() -> device:
    """The device new tensors are made on (``torch.get_default_device``): always the CPU."""
    return CPU


def set_default_device(target: Any) -> None:
    """``torch.set_default_device``: only the CPU (or None) can be the default."""
    check(target, "set_default_device")
