"""``Finding``: what one check found, in numbers and in the lectures' words."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Finding:
    """The outcome of one check.

    ``ok`` is False when the check tripped; ``message`` says what was measured and what it means, in the
    lectures' words; ``causes`` lists the likely causes to look at when it tripped; ``numbers`` holds the
    measurements (plain floats, ints and strings, so the finding can be written as JSON).
    """

    check: str
    ok: bool
    message: str
    numbers: dict[str, Any] = field(default_factory=dict)
    causes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "FLAG"
        lines = [f"{mark} {self.check}: {self.message}"]
        lines += [f"       - {cause}" for cause in self.causes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "ok": self.ok,
            "message": self.message,
            "causes": list(self.causes),
            "numbers": {key: _plain(value) for key, value in self.numbers.items()},
        }


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities as strings, NumPy scalars as Python numbers, lists element-wise."""
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def rate(value: float) -> str:
    """A learning rate or ratio as people write it: ``0.05``, ``3e-04``, ``1.2e-07``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    return f"{value:.2g}" if 1e-3 <= abs(value) < 1e3 else f"{value:.1e}"


def percent(value: float) -> str:
    return f"{100 * value:.0f}%" if value >= 0.01 or value == 0 else f"{100 * value:.2g}%"
