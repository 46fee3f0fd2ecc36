"""The tracer: run the model once on an example input and record what it computes as ONNX nodes.

Two kinds of step make up a forward pass, and each is seen where it happens:

- Layers. Every module gets a forward pre-hook and a forward hook (``Module.register_forward_hook``). A
  module whose type has a converter (``ember.onnx.layers.LAYERS``: Conv2d, BatchNorm2d, MaxPool2d, ...) and
  does not override that type's ``forward`` is a leaf: it becomes its ONNX node(s) and nothing inside it is
  recorded. Any other module (a block, a model, a container) is transparent: its forward is traced.
- The glue written in ``forward`` itself (``x + identity``, ``ops.cat(branches, 1)``, ``x * weights``,
  ``ops.flatten(x, 1)``, ``x[:, :, ::2, ::2]``). Tensor's operators and methods and the model code's
  ``ops.cat(...)`` all call the functions of the ``ember.ops`` namespace, looked up when called; for the
  trace, each of those names is replaced by a wrapper that runs the operation and records it
  (``ember.onnx.functions.FUNCTIONS``) when an argument is a traced value, and restored afterwards. This is
  the idea of PyTorch's ``__torch_function__`` and torch.fx, with the namespace as the dispatch point.
  The functional forms a PyTorch user calls in ``forward`` (``F.relu``, ``F.max_pool2d``, ``F.conv2d``)
  are wrapped the same way in the ``ember.nn.functional`` namespace (``ember.onnx.functional``).

Each traced tensor is known by its id (kept alive until the end of the trace) and named after the
module or operation that made it; parameters and buffers become initializers named by their state-dict
keys; other tensors that do not depend on the input (made from constants only) become constants. The
input requires grad during the trace, so a value computed from it outside the traced paths (a ``Function``
applied directly, a function imported by name, an in-place change in ``forward``) is not a leaf: it is
reported with the module that made it, never baked into the graph as a constant. The batch dimension is
symbolic (``dynamic_batch``): an operation that would mix samples (a reshape across dimension 0, a
reduction or a concatenation over it) is refused rather than exported for the example's batch size only.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ember.autograd import Tensor
from ember.nn.module import Module
from ember.onnx.graph import ExportError, Graph

Converter = Callable[["Call"], Any]
# a module of functions (ember.ops), its converters by name, and the names to wrap (None: its public ones)
Namespace = tuple[Any, dict[str, Converter], "list[str] | None"]


@dataclass
class Frame:
    """A module being called: its path, and whether it is a leaf converted as a whole."""

    module: Module
    path: str
    leaf: bool


@dataclass
class Call:
    """One converted step: a leaf module's call or an operation's; what converters receive."""

    tracer: Tracer
    name: str  # the base name of the step's nodes: the module's path, or "path/operation"
    args: tuple[Any, ...]
    output: Any
    module: Any = None
    arguments: dict[str, Any] = field(default_factory=dict)  # an operation's arguments, by name
    nodes: int = 0  # nodes added so far

    @property
    def graph(self) -> Graph:
        return self.tracer.graph

    @property
    def opset(self) -> int:
        return self.tracer.graph.opset

    def value(self, item: Any) -> str:
        """The graph's name for a traced tensor, a parameter, a constant tensor or a Python number."""
        return self.tracer.value(item)

    def input(self, index: int = 0) -> str:
        return self.value(self.args[index])

    def node(self, op_type: str, inputs: list[str], suffix: str = "", **attributes: Any) -> str:
        """A node of this step: the first is named after the step, the others ``step/OpType``."""
        name = f"{self.name}/{suffix or op_type}" if suffix or self.nodes else self.name
        self.nodes += 1
        return str(self.graph.node(op_type, inputs, name, **attributes))

    def parameter(self, attribute: str, array: np.ndarray | None = None) -> str:
        """The initializer of ``module.<attribute>`` (named by its key); ``array`` stores it reshaped."""
        tensor = getattr(self.module, attribute)
        return self.tracer.initializer(tensor, None if array is None else array)

    def constant(self, value: Any, dtype: Any = np.float32) -> str:
        return self.graph.constant(value, dtype)

    def int64(self, values: Any) -> str:
        return self.graph.constant(values, np.int64)

    def fail(self, reason: str) -> ExportError:
        layer = self.module if id(self.module) in self.tracer.paths else None  # else the calling module
        return ExportError(f"{self.tracer.where(layer)}: {reason}")

    def batch_fixed(self, what: str) -> None:
        """Refuse an operation over the batch dimension when the batch is symbolic."""
        if self.tracer.dynamic_batch:
            raise self.fail(
                f"{what} mixes the batch dimension, which a file with a dynamic batch cannot hold; "
                "export with dynamic_batch=False to fix the batch size"
            )

    def reduce(self, op_type: str, x: str, axes: list[int], keepdims: bool) -> str:
        """Reduce{Mean,Sum,Max,Min} over ``axes``: an attribute up to opset 17, an input from 18 (from 13
        for ReduceSum)."""
        if 0 in axes:
            self.batch_fixed(f"{op_type} over dimension 0")
        as_input = self.opset >= 18 or op_type == "ReduceSum"
        if as_input:
            return self.node(op_type, [x, self.int64(axes)], keepdims=int(keepdims))
        return self.node(op_type, [x], axes=axes, keepdims=int(keepdims))

    def reshape(self, x: str, shape: tuple[int, ...], source: tuple[int, ...], suffix: str = "") -> str:
        """Reshape to ``shape`` (the observed one); a dynamic batch stays dimension 0 (``0``: copy it)."""
        target = list(shape)
        if self.tracer.dynamic_batch:
            keeps = bool(shape) and bool(source) and shape[0] == source[0]
            if not keeps or int(np.prod(shape[1:])) != int(np.prod(source[1:])):
                self.batch_fixed(f"a reshape of {tuple(source)} to {tuple(shape)}")
            target[0] = 0
        return self.node("Reshape", [x, self.int64(target)], suffix=suffix)


class Tracer:
    """Hooks on every module, wrappers on the function namespaces (``ember.ops``, ``ember.nn.functional``),
    and the names of traced values."""

    def __init__(
        self,
        model: Module,
        graph: Graph,
        dynamic_batch: bool,
        layers: dict[type, Converter],
        namespaces: list[Namespace],
    ) -> None:
        self.model, self.graph, self.dynamic_batch = model, graph, dynamic_batch
        self.layers, self.namespaces = layers, namespaces
        self.names: dict[int, str] = {}  # id(tensor) -> its value's name
        self.constants: set[int] = set()  # ids of tensors computed from constants alone
        self.alive: list[Any] = []  # every tensor whose id is recorded, so that no id is reused
        self.keys = {id(t): key for key, t in [*model.named_parameters(), *model.named_buffers()]}
        self.paths = {id(module): path for path, module in model.named_modules()}
        self.initializers: dict[tuple[int, bool], str] = {}  # (id(tensor), reshaped) -> initializer
        self.frames: list[Frame] = []
        self.silent = 0  # > 0 inside a leaf module or an operation: nothing is recorded

    # ----------------------------------------------------------------------------------------------
    # Names
    def where(self, module: Any = None) -> str:
        """``layer1.0.conv1 (Conv2d)``: the module in question, or the innermost one being called."""
        if module is None:
            if not self.frames:
                return f"the model ({type(self.model).__name__})"
            module = self.frames[-1].module
        path = self.paths.get(id(module), "")
        return f"{path} ({type(module).__name__})" if path else f"the model ({type(module).__name__})"

    def path(self) -> str:
        return self.frames[-1].path if self.frames else ""

    def tag(self, tensor: Any, name: str) -> None:
        self.names[id(tensor)] = name
        self.alive.append(tensor)

    def known(self, item: Any) -> bool:
        """A traced value (as opposed to a constant or a number)."""
        return isinstance(item, Tensor) and id(item) in self.names

    def unknown(self, item: Any) -> bool:
        """A tensor computed from the input outside the traced paths."""
        return (
            isinstance(item, Tensor)
            and id(item) not in self.names
            and id(item) not in self.constants
            and item.grad_fn is not None
        )

    def value(self, item: Any) -> str:
        if isinstance(item, Tensor):
            if id(item) in self.names:
                return self.names[id(item)]
            if self.unknown(item):
                raise ExportError(
                    f"{self.where()}: uses a value computed from the input outside the operations the "
                    "exporter traces (a Function applied directly, a function imported by name, or an "
                    "in-place change in forward?): use the layer modules (nn.ReLU, ...), ember.nn.functional "
                    "as F (F.relu) and the operations of ember.ops, or export a model without it"
                )
            return self.initializer(item)
        if isinstance(item, bool | int | float | np.number):
            return self.graph.constant(item)
        raise ExportError(f"{self.where()}: cannot export an argument of type {type(item).__name__}")

    def initializer(self, tensor: Any, stored: np.ndarray | None = None) -> str:
        """A parameter, buffer or constant tensor as an initializer (once; ``stored`` reshapes it)."""
        key = (id(tensor), stored is not None)
        cache = self.initializers
        if key not in cache:
            array = tensor.array if stored is None else stored
            if array.dtype != np.float32 and array.dtype.kind == "f":
                raise ExportError(f"{self.where()}: a {array.dtype} tensor; Ember exports float32 models")
            cache[key] = self.graph.initializer(array, self.keys.get(id(tensor), "const"))
            self.alive.append(tensor)
        return str(cache[key])

    # ----------------------------------------------------------------------------------------------
    # Hooks
    def enter(self, module: Module, args: tuple[Any, ...]) -> None:
        leaf = not self.silent and self.converter_for(module) is not None
        self.frames.append(Frame(module, self.paths.get(id(module), ""), leaf))
        if leaf:
            for arg in args:
                if self.unknown(arg):
                    self.value(arg)  # fails, naming the module
            self.silent += 1

    def leave(self, module: Module, args: tuple[Any, ...], output: Any) -> None:
        frame = self.frames.pop()
        if frame.leaf:
            self.silent -= 1
            converter = self.converter_for(module)
            assert converter is not None
            self.frames.append(frame)  # errors name the layer
            try:
                call = Call(self, frame.path or type(module).__name__, tuple(args), output, module)
                self.record(output, converter(call))
            finally:
                self.frames.pop()
        elif not self.silent:
            for tensor in outputs_of(output):
                if self.unknown(tensor):
                    raise ExportError(
                        f"{self.where(module)}: Ember cannot export this layer to ONNX (its forward "
                        "computes outside the layers and ember.ops operations the exporter knows); "
                        f"exportable layers: {', '.join(self.layer_names())}"
                    )

    def layer_names(self) -> list[str]:
        return sorted(layer.__name__ for layer in self.layers)

    def converter_for(self, module: Module) -> Converter | None:
        """The conversion of ``module``'s type (the nearest in its class hierarchy), unless the module
        overrides that type's ``forward``: then it computes something else, and its forward is traced."""
        for cls in type(module).__mro__:
            if cls in self.layers:
                same = type(module).forward is cast("type[Module]", cls).forward
                return self.layers[cls] if same else None
        return None

    def record(self, output: Any, names: Any) -> None:
        tensors = outputs_of(output)
        names = [names] if isinstance(names, str) else list(names)
        for tensor, name in zip(tensors, names, strict=True):
            self.tag(tensor, name)

    # ----------------------------------------------------------------------------------------------
    # Operations
    def wrap(self, namespace: Namespace, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        try:
            signature: inspect.Signature | None = inspect.signature(function)
        except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
            signature = None

        def traced(*args: Any, **kwargs: Any) -> Any:
            if self.silent:
                return function(*args, **kwargs)
            values = [*args, *kwargs.values()]
            items = [
                item for value in values for item in (value if isinstance(value, list | tuple) else [value])
            ]
            for item in items:
                if self.unknown(item):
                    self.value(item)  # fails, naming the module
            self.silent += 1
            try:
                result = function(*args, **kwargs)
            finally:
                self.silent -= 1
            if not any(self.known(item) for item in items):  # constants in, a constant out
                for tensor in outputs_of(result):
                    self.constants.add(id(tensor))
                    self.alive.append(tensor)
                return result
            module, converters, _ = namespace
            converter = converters.get(name)
            if converter is None:
                raise ExportError(
                    f"{self.where()}: the operation {module.__name__}.{name} has no ONNX conversion in "
                    f"Ember (it converts {', '.join(sorted(converters))})"
                )
            bound = signature.bind(*args, **kwargs) if signature is not None else None
            if bound is not None:
                bound.apply_defaults()
            arguments = dict(bound.arguments) if bound is not None else {}
            path = self.path()
            call = Call(self, f"{path}/{name}" if path else name, args, result, None, arguments)
            self.record(result, converter(call))
            return result

        return traced

    @contextlib.contextmanager
    def tracing(self) -> Iterator[None]:
        """Hooks on every module, the function namespaces wrapped, the model in eval mode; all undone."""
        removers = []
        for module in self.model.modules():
            removers.append(module.register_forward_pre_hook(self.enter))
            removers.append(module.register_forward_hook(self.leave))
        originals = [(space, public_functions(space[0], space[2])) for space in self.namespaces]
        was_training = self.model.training
        self.model.eval()
        try:
            for namespace, functions in originals:
                for name, function in functions.items():
                    setattr(namespace[0], name, self.wrap(namespace, name, function))
            yield
        finally:
            for namespace, functions in originals:
                for name, function in functions.items():
                    setattr(namespace[0], name, function)
            for remove in removers:
                remove()
            self.model.train(was_training)


def public_functions(module: Any, names: list[str] | None = None) -> dict[str, Callable[..., Any]]:
    """The functions of a namespace called ``names``, by default its ``__all__``, else its public ones."""
    if names is None:
        names = getattr(module, "__all__", None) or [name for name in vars(module) if name[0] != "_"]
    names = [name for name in names if hasattr(module, name)]
    return {name: getattr(module, name) for name in names if inspect.isroutine(getattr(module, name))}


def outputs_of(output: Any) -> list[Any]:
    """The tensors of a module's or operation's result: one, or a tuple/list of them."""
    if isinstance(output, list | tuple):
        return [item for item in output if isinstance(item, Tensor)]
    return [output] if isinstance(output, Tensor) else []
