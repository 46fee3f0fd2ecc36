"""A search space: per hyperparameter, a range and the scale to sample it on, checked before anything runs.

The lectures' advice is in the scales. Learning rates and regularization strengths act multiplicatively,
so they are sampled uniformly in their logarithm (``log``: 1e-4 to 1e-1 spends as many trials between 1e-4
and 1e-3 as between 1e-2 and 1e-1); a dropout probability or a momentum is sampled ``uniform``; a width or
a batch size is an ``int``; an optimizer or a schedule is a ``choice``.

A parameter is named by its configuration field (``optimizer.lr``, ``regularization.l2``,
``model_options.dropout``), or by the ``ember train`` flag that sets it (``lr``, ``weight-decay``), and is
written ``SCALE:LOW:HIGH`` (``log:1e-4:0.1``) or ``choice:A,B,C`` on the command line, or as a mapping in a
config file's ``search.space`` (``{scale: log, low: 1e-4, high: 0.1}``, ``{choices: [sgd, adam]}``).
``check_space`` tries both ends of every range (and every choice) through the training configuration's own
checks, so ``optimizer.lr`` at ``-1`` is refused with the field's own message before the first trial.

Coarse-to-fine (``narrow``): the next stage's range of a number is the span of the best trials' values,
widened and clipped. Exactly, on the parameter's scale (the logarithm for ``log``): with ``a`` and ``b`` the
smallest and largest value among the top ``k`` trials and ``w = max(b - a, width / 10)`` (``width``: the
original range's), the new range is ``[a - f w, b + f w]`` clipped to the original range, ``f`` the widening
factor (0.5 by default); an ``int`` range is then rounded outwards. A choice keeps the options the top ``k``
trials used. So with top values spread over 1e-3 to 1e-2 in a 1e-5 to 1 range (log), the next stage searches
10^-3.5 to 10^-1.5; if the top trials agree, the range is a tenth of the original around them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ember.train.config import ConfigError, TrainConfig, merge, resolve_config

SCALES = ("log", "uniform", "int", "choice")
MIN_WIDTH = 0.1  # the narrowest next range, as a share of the original range (on the scale)


@dataclass(frozen=True)
class Param:
    """One hyperparameter: the configuration field it sets, its scale and its range (or choices)."""

    name: str  # a field path of TrainConfig: optimizer.lr, model_options.dropout
    scale: str  # log, uniform, int or choice
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def numeric(self) -> bool:
        return self.scale != "choice"

    def forward(self, value: float) -> float:
        """``value`` on the parameter's scale (its base-10 logarithm for ``log``)."""
        return math.log10(value) if self.scale == "log" else float(value)

    def inverse(self, position: float) -> float:
        return 10.0**position if self.scale == "log" else position

    def describe(self) -> str:
        """``optimizer.lr: log 1e-05..0.1`` or ``optimizer.name: one of sgd, adam``."""
        if self.scale == "choice":
            return f"{self.name}: one of {', '.join(map(str, self.choices))}"
        return f"{self.name}: {self.scale} {self.low:.4g}..{self.high:.4g}"

    def to_dict(self) -> dict[str, Any]:
        if self.scale == "choice":
            return {"name": self.name, "scale": "choice", "choices": list(self.choices)}
        return {"name": self.name, "scale": self.scale, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Param:
        return cls(
            data["name"], data["scale"], data.get("low"), data.get("high"), tuple(data.get("choices", ()))
        )


Space = list[Param]


# ----------------------------------------------------------------------------------------------------------
# Reading a space
def _number(text: Any, where: str, problems: list[tuple[str, str]]) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        problems.append((where, f"must be a number, got {text!r}"))
        return None
    if not math.isfinite(value):
        problems.append((where, f"must be a finite number, got {text!r}"))
        return None
    return value


def _choice_value(text: str) -> Any:
    """A choice given as text: a number or true/false if it reads as one, else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text.strip()


def _from_text(text: str) -> dict[str, Any] | None:
    """``log:1e-4:0.1`` or ``choice:sgd,adam`` as the mapping a config file would give (None if neither)."""
    scale, _, rest = text.partition(":")
    scale = scale.strip().lower()
    if scale == "choice":
        return {
            "scale": "choice",
            "choices": [_choice_value(part) for part in rest.split(",") if part.strip()],
        }
    parts = rest.split(":")
    return {"scale": scale, "low": parts[0], "high": parts[1]} if len(parts) == 2 else None


def field_path(name: str, aliases: Mapping[str, str]) -> str:
    """A parameter's field path: ``lr`` (a flag's name, through ``aliases``) or ``optimizer.lr``."""
    key = name.strip().lstrip("-")
    return aliases.get(key, key.replace("-", "_"))


def parse_param(
    name: str,
    spec: Any,
    where: str,
    problems: list[tuple[str, str]],
    aliases: Mapping[str, str] | None = None,
) -> Param | None:
    """One parameter from its name and its spec (a mapping, or ``SCALE:LOW:HIGH`` text); problems are
    recorded under ``where`` (``search.space.lr``, ``--param lr``) and None returned."""
    path = field_path(name, aliases or {})
    raw = _from_text(spec) if isinstance(spec, str) else spec
    if not isinstance(raw, Mapping):
        problems.append(
            (where, f"expected SCALE:LOW:HIGH, choice:A,B or a mapping (scale, low, high), got {spec!r}")
        )
        return None
    unknown = set(raw) - {"scale", "low", "high", "choices"}
    if unknown:
        problems.append(
            (where, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}: use scale, low, high or choices")
        )
        return None
    scale = str(raw.get("scale", "choice" if "choices" in raw else "uniform")).lower()
    if scale not in SCALES:
        problems.append((where, f"unknown scale '{scale}'; choose one of: {', '.join(SCALES)}"))
        return None
    if scale == "choice":
        choices = raw.get("choices")
        if not isinstance(choices, Sequence) or isinstance(choices, str) or len(choices) < 1:
            problems.append((where, f"a choice needs a list of options, got {choices!r}"))
            return None
        if len(set(map(repr, choices))) != len(choices):
            problems.append((where, f"the options repeat one another: {list(choices)!r}"))
            return None
        if not all(option is None or isinstance(option, bool | int | float | str) for option in choices):
            problems.append((where, "options must be numbers, strings, true/false or null"))
            return None
        return Param(path, "choice", choices=tuple(choices))
    if "choices" in raw:
        problems.append((where, f"a {scale} range takes low and high, not choices"))
        return None
    before = len(problems)
    low = _number(raw.get("low"), f"{where}.low", problems)
    high = _number(raw.get("high"), f"{where}.high", problems)
    if len(problems) > before or low is None or high is None:
        return None
    if scale == "int" and not (low.is_integer() and high.is_integer()):
        problems.append((where, f"an int range needs whole numbers, got {low:g}..{high:g}"))
        return None
    if not low < high:
        problems.append((where, f"low must be below high, got {low:g}..{high:g}"))
        return None
    if scale == "log" and low <= 0:
        problems.append(
            (where, f"a log range must be above 0, got low {low:g} (use uniform for ranges from 0)")
        )
        return None
    return Param(path, scale, low, high)


def parse_space(
    raw: Any, where: str = "search.space", aliases: Mapping[str, str] | None = None
) -> tuple[Space, list[tuple[str, str]]]:
    """A config file's ``search.space`` mapping (name: spec) as parameters, and the problems found."""
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, Mapping):
        return [], [(where, f"expected a mapping of parameter: range, got {raw!r}")]
    space = [parse_param(str(name), spec, f"{where}.{name}", problems, aliases) for name, spec in raw.items()]
    return unique([param for param in space if param is not None], problems, where), problems


def unique(space: Space, problems: list[tuple[str, str]], where: str) -> Space:
    """``space`` with each field once (a field given twice is a problem)."""
    seen: dict[str, Param] = {}
    for param in space:
        if param.name in seen:
            problems.append((where, f"{param.name} is given twice"))
        seen[param.name] = param
    return list(seen.values())


# ----------------------------------------------------------------------------------------------------------
# Checking a space against the training configuration
def nested(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"optimizer.lr": 0.1}`` as ``{"optimizer": {"lr": 0.1}}``."""
    result: dict[str, Any] = {}
    for path, value in values.items():
        node: Any = value
        for key in reversed(path.split(".")):
            node = {key: node}
        result = merge(result, node)
    return result


def endpoints(param: Param) -> list[Any]:
    """The values that bound what a trial can get: both ends of a range, every choice."""
    if param.scale == "choice":
        return list(param.choices)
    assert param.low is not None and param.high is not None
    if param.scale == "int":
        return [int(param.low), int(param.high)]
    return [param.low, param.high]


def apply(base: Mapping[str, Any], values: Mapping[str, Any]) -> TrainConfig:
    """The training configuration of a trial: ``base`` (a raw mapping) with the parameters' values."""
    return resolve_config(merge(base, nested(values)))


def check_space(space: Space, base: Mapping[str, Any], where: str = "search.space") -> None:
    """Raise ``ConfigError`` naming every parameter the training configuration refuses at some value.

    Each end of each range (each choice) is put into ``base`` and checked by ``resolve_config``; a field of
    ``model_options`` is checked by building the model with it (``recipes.build_model``).
    """
    from ember.train import recipes
    from ember.train.datasets import DATASETS

    if not space:
        raise ConfigError(
            [(where, "no parameters to search: give --param NAME=SCALE:LOW:HIGH or search.space")]
        )
    problems: list[tuple[str, str]] = []
    for param in space:
        for value in endpoints(param):
            try:
                config = apply(base, {param.name: value})
                if param.name.startswith("model_options."):
                    info = DATASETS[config.dataset]
                    size = recipes.model_input_size(config, info)
                    recipes.build_model(config, 10, info.channels, size[1])
            except ConfigError as error:
                for name, message in error.problems:
                    problems.append(
                        (f"{where}.{param.name}", f"at {value!r}: {name + ': ' if name else ''}{message}")
                    )
                break
    if problems:
        raise ConfigError(problems)


# ----------------------------------------------------------------------------------------------------------
# Grid and coarse-to-fine
def grid_values(param: Param, points: int) -> list[Any]:
    """``points`` values spread evenly over the range on its scale (every choice; every int if fewer)."""
    if param.scale == "choice":
        return list(param.choices)
    assert param.low is not None and param.high is not None
    if param.scale == "int" and param.high - param.low + 1 <= points:
        return list(range(int(param.low), int(param.high) + 1))
    positions = np.linspace(param.forward(param.low), param.forward(param.high), points)
    values = [param.inverse(float(position)) for position in positions]
    if param.scale == "int":
        return sorted({round(value) for value in values})
    return [float(f"{value:.6g}") for value in values]  # 0.001, not 0.0009999999999999998


def narrow(param: Param, original: Param, best: Sequence[Any], widen: float = 0.5) -> Param:
    """The next stage's range of ``param`` around the values ``best`` of the top trials (module docstring)."""
    if param.scale == "choice":
        kept = tuple(choice for choice in param.choices if choice in best)
        return replace(param, choices=kept or param.choices)
    assert original.low is not None and original.high is not None
    lower, upper = original.forward(original.low), original.forward(original.high)
    positions = [param.forward(float(value)) for value in best]
    a, b = min(positions), max(positions)
    w = max(b - a, MIN_WIDTH * (upper - lower))
    low, high = max(lower, a - widen * w), min(upper, b + widen * w)
    if param.scale == "int":
        new_low, new_high = math.floor(param.inverse(low)), math.ceil(param.inverse(high))
        if new_low == new_high:  # one integer left: keep a neighbour inside the original range
            new_high, new_low = min(new_high + 1, int(original.high)), max(new_low - 1, int(original.low))
        return replace(param, low=float(new_low), high=float(new_high))
    return replace(param, low=float(f"{param.inverse(low):.6g}"), high=float(f"{param.inverse(high):.6g}"))


def at_edge(param: Param, original: Param, best: Sequence[Any]) -> str | None:
    """``low`` or ``high`` if the best value lies within 2% of that end of the original range: the optimum
    may lie beyond it, and the range should be widened (the lectures' advice on coarse-to-fine)."""
    if not param.numeric or not best:
        return None
    assert original.low is not None and original.high is not None
    lower, upper = original.forward(original.low), original.forward(original.high)
    position = param.forward(float(best[0]))
    if position <= lower + 0.02 * (upper - lower):
        return "low"
    if position >= upper - 0.02 * (upper - lower):
        return "high"
    return None


def suggest(trial: Any, param: Param) -> Any:
    """The value of ``param`` for an Optuna trial (its sampler's choice, or the value queued for it)."""
    if param.scale == "choice":
        return trial.suggest_categorical(param.name, list(param.choices))
    if param.scale == "int":
        return trial.suggest_int(param.name, int(param.low), int(param.high))  # type: ignore[arg-type]
    return trial.suggest_float(param.name, param.low, param.high, log=param.scale == "log")
