"""``Optimizer``: the base of every update rule; parameter groups, per-parameter state, and its state_dict.

An optimizer holds *parameter groups*: lists of parameters that share hyperparameters (a dict per group, so
that e.g. biases can have no weight decay or a backbone a smaller learning rate), and *state* per parameter
(momentum buffers, running averages, step counts). ``step()`` reads each parameter's ``.grad`` and changes the
parameter in place, under ``no_grad`` (an update is not part of the graph).

Conventions (those of ``torch.optim``):
- Updates work directly on the ``.array`` NumPy arrays with in-place ufuncs (``out=``), float32 throughout:
  hyperparameters stay Python floats, which NumPy treats as "weak" scalars, so no float64 leaks into the
  arrays. Temporaries live in per-optimizer scratch buffers that are reused from step to step (a fresh large
  array costs page faults; see ``shared/PERFORMANCE.md``). ``.grad`` is never modified.
- State values are Ember ``Tensor``s (``step`` a 0-d float32 tensor, as in PyTorch) or plain Python scalars,
  so a state_dict serializes cleanly.
- ``state_dict()`` has PyTorch's format: ``{"state": {index: {...}}, "param_groups": [{..., "params":
  [indices]}]}`` with parameters numbered in order of appearance across the groups. Like PyTorch it returns
  references to the live state tensors (copy or save it to freeze it); ``load_state_dict()`` copies, so a
  resumed run continues bit for bit.
"""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ember.autograd import Tensor, enable_grad, from_numpy, no_grad
from ember.nn.module import zero_gradients


class _RequiredParameter:
    """A hyperparameter that has no default and must be given (e.g. LBFGS has one, but a subclass may not)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required: Any = _RequiredParameter()

Params = Iterable[Tensor] | Iterable[dict[str, Any]]


def check_torch_flags(flags: dict[str, Any]) -> None:
    """Accept PyTorch's implementation switches so that its snippets run; Ember has one implementation.

    ``foreach`` and ``fused`` choose among PyTorch's kernels and mean nothing here; ``differentiable`` and
    ``capturable`` (differentiating through the update, CUDA graphs) are not supported.
    """
    for name, value in flags.items():
        if name in ("foreach", "fused"):
            continue
        if name in ("differentiable", "capturable"):
            if value:
                raise NotImplementedError(f"{name}=True is not supported by Ember")
            continue
        raise TypeError(f"unexpected keyword argument '{name}'")


def check_non_negative(**values: float) -> None:
    """PyTorch's argument checks: ``Invalid learning rate: -1``."""
    for name, value in values.items():
        if not value >= 0.0:
            raise ValueError(f"Invalid {name.replace('_', ' ')}: {value}")


class Optimizer:
    """Base class: holds ``param_groups`` and ``state``; subclasses define ``_update_group``."""

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict[tuple[tuple[int, ...], Any, int], np.ndarray] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                "a Tensor; pass model.parameters() or [tensor]"
            )
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (the missing ones from ``defaults``)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, not a set")
        params = list(params)
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is {type(param)}"
                )
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in the future this will "
                "cause an error",
                UserWarning,
                stacklevel=3,
            )
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization parameter {name}"
                )
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ----------------------------------------------------------------------------------------------
    # Gradients and steps
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: drop them (the default, cheapest), or fill them with zeros."""
        zero_gradients((param for group in self.param_groups for param in group["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; ``closure`` re-evaluates the loss first."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._opt_called = True
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define its update (_update_group)")

    @staticmethod
    def _with_grads(group: dict[str, Any]) -> Iterator[tuple[np.ndarray, np.ndarray, Tensor]]:
        """(parameter array, gradient array, parameter) for each parameter of the group that has a
        gradient."""
        for param in group["params"]:
            if param.grad is not None:
                yield param.array, param.grad.array, param

    def _buffer(self, like: np.ndarray, slot: int = 0) -> np.ndarray:
        """A scratch array shaped like ``like``, reused across parameters of that shape and across steps."""
        key = (like.shape, like.dtype, slot)
        buffer = self._scratch.get(key)
        if buffer is None:
            buffer = self._scratch[key] = np.empty_like(like)
        return buffer

    def _gradient(
        self, param: np.ndarray, grad: np.ndarray, weight_decay: float, maximize: bool
    ) -> np.ndarray:
        """The gradient the rule follows: ``-grad`` to maximize, plus ``weight_decay * param`` (L2 penalty).

        PyTorch's order: negate first, then add the decay, so maximizing still decays the weights.
        ``.grad`` itself is not changed; the result is a scratch buffer (slot 0) when it differs from it.
        """
        if not weight_decay and not maximize:
            return grad
        out = self._buffer(param, 0)
        if maximize:
            np.negative(grad, out=out)
            if weight_decay:
                out += np.multiply(param, weight_decay, out=self._buffer(param, 1))
        else:
            np.multiply(param, weight_decay, out=out)
            out += grad
        return out

    @staticmethod
    def _next_step(state: dict[str, Any]) -> float:
        """Count this step in ``state["step"]`` (a 0-d float32 tensor, as in PyTorch) and return it."""
        step = state["step"].array
        step += 1
        return float(step)

    # ----------------------------------------------------------------------------------------------
    # Saving and resuming
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: state}, "param_groups": [...]}``; parameters appear as their index."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for param in group["params"]:
                index.setdefault(id(param), len(index))
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(param)]: value for param, value in self.state.items() if id(param) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take hyperparameters and state from ``state_dict`` (copied: the dict can be reused)."""
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(
            len(s["params"]) != len(g["params"]) for s, g in zip(saved_groups, self.param_groups, strict=True)
        ):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        params_by_index = {
            index: param
            for saved, group in zip(saved_groups, self.param_groups, strict=True)
            for index, param in zip(saved["params"], group["params"], strict=True)
        }
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for index, value in state_dict["state"].items():
            param = params_by_index.get(index)
            if param is None:
                continue
            state[param] = {key: _copy_state_value(v, param, key) for key, v in value.items()}
        self.state = state
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            saved["params"] = group["params"]
        self.param_groups = saved_groups

    def __getstate__(self) -> dict[str, Any]:
        # Scratch buffers are workspace, not state: not pickled.
        return {key: value for key, value in self.__dict__.items() if key != "_scratch"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scratch = {}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        lines.append(")")
        return "\n".join(lines)


def _copy_state_value(value: Any, param: Tensor, key: Any) -> Any:
    """A copy of one state entry; tensors take the parameter's dtype (except the step counter, as PyTorch)."""
    if isinstance(value, Tensor) or (hasattr(value, "__array__") and not isinstance(value, np.generic)):
        array = np.asarray(getattr(value, "array", value))
        if key != "step" and array.dtype.kind == "f":
            array = array.astype(param.dtype, copy=False)
        return from_numpy(np.array(array, copy=True))
    if isinstance(value, dict):
        return {k: _copy_state_value(v, param, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_copy_state_value(v, param, key) for v in value)
    return value


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, scratch: np.ndarray) -> np.ndarray:
    """``start += weight * (end - start)`` in place (an exponential moving average), rounded as
    ``torch.lerp_``."""
    np.subtract(end, start, out=scratch)
    if weight < 0.5:
        scratch *= weight
        start += scratch
    else:  # torch.lerp's form for large weights: end - (end - start) * (1 - weight)
        scratch *= 1 - weight
        np.subtract(end, scratch, out=start)
    return start


def decay_square_(average: np.ndarray, g: np.ndarray, decay: float, scratch: np.ndarray) -> np.ndarray:
    """``average = decay * average + (1 - decay) * g ** 2`` in place: the leaky cache of RMSprop, Adadelta,
    Adam."""
    np.multiply(g, 1 - decay, out=scratch)
    scratch *= g
    average *= decay
    average += scratch
    return average


def zeros_state(like: np.ndarray) -> Tensor:
    """A state tensor of zeros shaped like a parameter."""
    return from_numpy(np.zeros_like(like))


def step_state() -> Tensor:
    """The step counter: a 0-d float32 tensor, as PyTorch keeps it."""
    return from_numpy(np.zeros((), dtype=np.float32))
