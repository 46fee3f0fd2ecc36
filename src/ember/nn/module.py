"""``Module``: the building block of networks; a layer, a block or a whole model.

A module holds parameters (learned), buffers (state such as batch norm's running statistics) and child
modules, found by attribute assignment as in PyTorch. ``forward`` computes the layer's output; the backward
pass comes from the operations it uses. ``state_dict`` names every parameter and buffer by its path
(``features.0.weight``), the same names PyTorch gives, so weights move between the two.

``load_state_dict`` checks every key, shape and type before it copies anything. Its type rule is stricter than
PyTorch's, which casts whatever it is given: a value must be of the same kind as the tensor it goes into (a
float into a float tensor, an integer into an integer one, a bool into a bool one). An integer or boolean
array where a float parameter belongs is a wrong key or a wrong file far more often than a wish to cast, so
it is refused, naming the key and both types. Floats of higher precision (float64 weights, as NumPy makes by
default and ``model.double()`` saves) are rounded to the tensor's type with a warning naming the keys, and
refused if a value does not fit in it (overflow to infinity); lower precision (float16) widens exactly,
silently. Integers must fit the tensor's integer type.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ember import devices, dtypes
from ember.autograd import Tensor, from_numpy, is_grad_enabled, no_grad
from ember.autograd.conversion import to_arguments
from ember.errors import EmberError, name_list
from ember.nn.hooks import BackwardHook, RemovableHandle, add_hook
from ember.nn.parameter import Buffer, Parameter


class StateDictError(EmberError, RuntimeError):
    """A state dict does not fit a module: missing or unexpected keys, other shapes or other types.

    ``problems`` lists them, one line each (the message is PyTorch's: the module's name, then the list).
    """

    def __init__(self, owner: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"Error(s) in loading state_dict for {owner}:\n\t" + "\n\t".join(problems))


def _converted(key: str, array: np.ndarray, dtype: np.dtype[Any]) -> tuple[np.ndarray | None, str | None]:
    """``array`` in ``dtype`` under the type rule (module docstring), or None and what is wrong."""
    source = array.dtype
    if source == dtype:
        return array, None
    refused = (
        f"dtype mismatch for {key}: copying a param of type {source} from checkpoint, the type in current "
        f"model is {dtype} (convert it first, e.g. with .astype(np.{dtype}), if that is what you mean)"
    )
    kinds = {"f": "f", "i": "i", "u": "i", "b": "b"}
    if kinds.get(source.kind) != kinds.get(dtype.kind):
        return None, refused
    with np.errstate(over="ignore", invalid="ignore"):
        cast = array.astype(dtype)
    if dtype.kind == "f":
        if np.any(np.isfinite(array) & ~np.isfinite(cast)):
            return None, f"values of {key} overflow {dtype} (the largest is {np.finfo(dtype).max:.3g})"
    elif not np.array_equal(cast, array):
        return None, f"values of {key} ({source}) do not fit in {dtype}"
    return cast, None


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer and model: create sub-layers in ``__init__``, define ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_pre_hooks", OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define it in the subclass")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not (
            self._forward_pre_hooks or self._forward_hooks or self._backward_hooks or self._backward_pre_hooks
        ):
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            replaced = hook(self, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        backward = None
        if (self._backward_hooks or self._backward_pre_hooks) and is_grad_enabled():
            backward = BackwardHook(self, self._backward_hooks.values(), self._backward_pre_hooks.values())
            args = backward.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        return backward.wrap_outputs(output) if backward is not None else output

    # ----------------------------------------------------------------------------------------------
    # Registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__ and isinstance(value, Parameter | Module):
            raise AttributeError(
                f"cannot assign {type(value).__name__} '{name}' before Module.__init__() is called; "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        if isinstance(value, Parameter):
            self._discard(name, keep=self._parameters)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._discard(name, keep=self._modules)
            self._modules[name] = value
        elif isinstance(value, Buffer):
            self._discard(name)
            self.register_buffer(name, Tensor(value.array), value.persistent)
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to parameter '{name}' of {type(self).__name__} "
                    "(a Parameter or None is required)"
                )
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} to buffer '{name}' (a Tensor is required)"
                )
            self._buffers[name] = value
        elif "_modules" in self.__dict__ and name in self._modules and value is None:
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name: str, keep: dict[str, Any] | None = None) -> None:
        """Forget ``name`` in the registries other than ``keep``, where a new value replaces the old one
        in place: a replaced child or parameter keeps its position (forward order, state-dict order)."""
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        self._non_persistent_buffers.discard(name)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        for registry in ("_parameters", "_buffers", "_modules"):
            values = self.__dict__.get(registry)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter: '{name}' must be a Parameter or None, not {type(param).__name__}"
            )
        self._discard(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """State that is not learned but is saved (unless ``persistent=False``), e.g. running statistics."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer: '{name}' must be a Tensor or None, not {type(tensor).__name__}"
            )
        self._discard(name, keep=self._buffers)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module, not {type(module).__name__}")
        if "." in name or name == "":
            raise KeyError(f"module name must be a non-empty string without '.', got {name!r}")
        self._discard(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False) -> RemovableHandle:
        """``hook(module, inputs, output)`` after each forward; returning a value replaces the output."""
        return add_hook(self._forward_hooks, hook, prepend)

    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False
    ) -> RemovableHandle:
        """``hook(module, inputs)`` before each forward; returning a value replaces the inputs."""
        return add_hook(self._forward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` once the gradients with respect to this call's inputs
        are computed (PyTorch's semantics, ``ember.nn.hooks``): one entry per positional argument (None
        where it does not require grad), one per output; returning a tuple replaces ``grad_input``."""
        return add_hook(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """``hook(module, grad_output)`` when the gradients with respect to the outputs are computed, before
        those with respect to the inputs; returning a tuple replaces ``grad_output``."""
        return add_hook(self._backward_pre_hooks, hook, prepend)

    # ----------------------------------------------------------------------------------------------
    # Traversal
    def named_modules(self, memo: set[int] | None = None, prefix: str = "") -> Iterator[tuple[str, Module]]:
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def get_submodule(self, target: str) -> Module:
        """The module at a dotted path such as ``'layer1.0.conv1'``."""
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(
                    f"{type(module).__name__} has no submodule '{part}' (looking up '{target}')"
                )
            module = child
        return module

    # ----------------------------------------------------------------------------------------------
    # Modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout drops, batch norm uses batch statistics); ``eval()`` switches both off.

        Calls ``train(mode)`` on every child, as PyTorch does, so a subclass may override it.
        """
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a boolean, got {type(mode).__name__}")
        object.__setattr__(self, "training", mode)
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter: transfer learning trains only what is unfrozen."""
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: drop them (the default, cheapest), or fill them with zeros."""
        zero_gradients(self.parameters(), set_to_none)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and on this module, e.g. to initialize weights."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Convert floating-point parameters and buffers to a dtype in place; PyTorch's forms
        (``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``), the device the CPU only."""
        _, dtype, _ = to_arguments("Module.to", args, kwargs)
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise TypeError(f"Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        for tensor in [*self.parameters(), *self.buffers()]:
            if tensor.dtype.kind == "f" and tensor.dtype != dtype:
                tensor.data = tensor.data.to(dtype)
                if tensor.grad is not None:
                    tensor.grad.data = tensor.grad.data.to(dtype)
        return self

    def float(self) -> Module:
        return self.to(dtypes.float32)

    def double(self) -> Module:
        return self.to(dtypes.float64)

    def half(self) -> Module:
        return self.to(dtypes.float16)

    def cpu(self) -> Module:
        return self

    def cuda(self, device: Any = None) -> Module:
        """Ember has no GPU: raises ``DeviceUnavailableError`` saying so (as a CPU-only PyTorch)."""
        raise devices.unavailable(devices.device("cuda" if device is None else device), "Module.cuda")

    # ----------------------------------------------------------------------------------------------
    # Saving and loading
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Every parameter and persistent buffer by its dotted name (PyTorch's names), sharing memory.

        As in PyTorch, a module (or parameter) reachable under two names appears under both.
        """
        state: OrderedDict[str, Tensor] = OrderedDict()
        self._save_to(state, prefix, keep_vars)
        return state

    def _save_to(self, state: OrderedDict[str, Tensor], prefix: str, keep_vars: bool) -> None:
        for name, param in self._parameters.items():
            if param is not None:
                state[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                state[prefix + name] = buffer if keep_vars else buffer.detach()
        for name, module in self._modules.items():
            if module is not None:
                module._save_to(state, f"{prefix}{name}.", keep_vars)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values (Ember tensors, NumPy arrays, or anything array-like) into this module's tensors.

        With ``strict`` every key must match; missing and unexpected keys are listed, and a shape mismatch
        names the key and both shapes; types follow the rule in the module docstring (``StateDictError``, a
        ``RuntimeError`` as in PyTorch, lists every problem). Nothing is copied unless everything fits;
        values are copied in place, so optimizers keep their references.
        """
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        problems = []
        if strict and missing:
            problems.append("missing key(s) in state_dict: " + name_list([f'"{k}"' for k in missing], 10))
        if strict and unexpected:
            problems.append(
                "unexpected key(s) in state_dict: " + name_list([f'"{k}"' for k in unexpected], 10)
            )
        arrays, rounded = {}, []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = np.asarray(value.array if isinstance(value, Tensor) else value)
            if array.shape != target.shape:
                problems.append(
                    f"size mismatch for {key}: copying a param with shape {array.shape} from checkpoint, "
                    f"the shape in current model is {tuple(target.shape)}"
                )
                continue
            converted, problem = _converted(key, array, target.array.dtype)
            if converted is None:
                problems.append(str(problem))
                continue
            if array.dtype.kind == "f" and array.dtype.itemsize > target.array.dtype.itemsize:
                rounded.append(f"{key} ({array.dtype} to {target.array.dtype})")
            arrays[key] = converted
        if problems:
            raise StateDictError(type(self).__name__, problems)
        if rounded:
            warnings.warn(
                f"load_state_dict: rounded to the model's precision: {name_list(rounded)}",
                UserWarning,
                stacklevel=2,
            )
        with no_grad():  # check everything first, then copy: a failed load changes nothing
            for key, array in arrays.items():
                own[key].copy_(from_numpy(array))
        return IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------------------------------------
    # Printing
    def extra_repr(self) -> str:
        """The layer's own settings, shown by ``repr`` (e.g. ``in_features=784, out_features=10``)."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + _indent(repr(module)) for name, module in self._modules.items()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = "\n  ".join(([extra] if extra else []) + lines)
        return f"{type(self).__name__}(\n  {body}\n)"

    def __dir__(self) -> list[str]:
        return sorted(
            set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules)
        )


def zero_gradients(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """Drop (or zero) the ``.grad`` of each tensor: gradients accumulate across backward calls until then."""
    for param in params:
        if param.grad is None:
            continue
        if set_to_none:
            param.grad = None
        else:
            param.grad.array[...] = 0


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")
