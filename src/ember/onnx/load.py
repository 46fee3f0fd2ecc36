"""``import_model``: an ONNX file as an Ember module, for the operators Ember's layers and operations cover.

The other way from ``export``, where it is cheap: each node becomes the Ember layer or operation that
computes the same thing, run in the graph's order by ``ImportedModel``. Conv, ConvTranspose, Gemm,
BatchNormalization and PRelu become modules (``nn.Conv2d``, ``nn.Linear``, ...) holding the file's
weights bit for bit, registered under the path their weight's name gives (``features.0.weight`` makes
``features.0``): a file that Ember exported comes back with the original state-dict keys, so
``model.load_state_dict(imported.state_dict(), strict=False)`` and back both work. The other operators
(pools, activations, Add, Concat, Reshape, Slice, Pad, Reduce*, ...) are calls of ``ember.nn.functional``
and ``ember.ops``; shapes, slices and axes must be constants of the file. Anything else is refused with the
node's name and operator (``ExportError``), as is a padding Ember's layers cannot take (asymmetric).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ember import nn, ops
from ember.autograd import Tensor, from_numpy
from ember.nn import functional as F
from ember.nn.module import Module
from ember.onnx.graph import IR_VERSIONS, ExportError, require_onnx

Run = Callable[[list[Any]], Any]


@dataclass
class Step:
    """One node: the names of its inputs ("" for an omitted optional one), its output, its computation."""

    node: str
    inputs: list[str]
    output: str
    run: Run


class ImportedModel(Module):
    """An ONNX graph run node by node with Ember's layers (its parameterized ones are child modules)."""

    def __init__(self, input_name: str, output_names: list[str]) -> None:
        super().__init__()
        self.input_name, self.output_names = input_name, output_names
        self.steps: list[Step] = []
        self.constants: dict[str, Tensor] = {}

    def forward(self, input: Tensor) -> Any:
        values: dict[str, Any] = {**self.constants, self.input_name: input}
        for step in self.steps:
            values[step.output] = step.run([values.get(name) for name in step.inputs])
        outputs = [values[name] for name in self.output_names]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


class Builder:
    """Turns the nodes of a graph into ``Step``s of an ``ImportedModel``."""

    def __init__(self, proto: Any) -> None:
        onnx = require_onnx()
        graph = proto.graph
        self.arrays = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        inputs = [value.name for value in graph.input if value.name not in self.arrays]
        if len(inputs) != 1:
            raise ExportError(f"import: Ember imports graphs with one input, this one has {len(inputs)}")
        self.model = ImportedModel(inputs[0], [value.name for value in graph.output])
        inferred = onnx.shape_inference.infer_shapes(proto).graph
        self.ranks = {
            value.name: len(value.type.tensor_type.shape.dim)
            for value in [*inferred.value_info, *inferred.input, *inferred.output]
            if value.type.tensor_type.HasField("shape")
        }
        self.modules: dict[str, Module] = {}  # weight's initializer -> its layer
        self.owned: set[str] = set()  # initializers held by layers
        self.node: Any = None

    def fail(self, reason: str) -> ExportError:
        return ExportError(f"import: node {self.node.name or '?'} ({self.node.op_type}): {reason}")

    def constant(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise self.fail(f"input {name} must be a constant of the file (Ember imports static shapes)")
        return self.arrays[name]

    def attributes(self) -> dict[str, Any]:
        helper = require_onnx().helper
        return {attribute.name: helper.get_attribute_value(attribute) for attribute in self.node.attribute}

    def module(self, inputs: list[str], make: Callable[[], Module], state: dict[str, np.ndarray]) -> Module:
        """The layer owning the initializers ``inputs[1:]`` (made once with ``state`` loaded, shared if a
        node uses the same weight again), at the path its weight's name gives (``features.0.weight``)."""
        weight = inputs[1]
        if weight in self.modules:
            return self.modules[weight]
        path = weight[: -len(".weight")] if weight.endswith(".weight") else ""
        parts = path.split(".") if path else []
        if (
            not parts
            or not all(part.isidentifier() or part.isdigit() for part in parts)
            or not self.free(parts)
        ):
            parts = [f"{self.node.op_type.lower()}{len(self.modules)}"]
        parent: Module = self.model
        for part in parts[:-1]:
            children = dict(parent.named_children())
            if part not in children:
                parent.add_module(part, nn.ModuleDict())
            parent = parent.get_submodule(part)
        layer = make()
        layer.load_state_dict({key: from_numpy(np.array(value, order="C")) for key, value in state.items()})
        parent.add_module(parts[-1], layer)
        self.modules[weight] = layer
        self.owned.update(name for name in inputs[1:] if name)
        return layer

    def free(self, parts: list[str]) -> bool:
        """No module or attribute at this path yet, and only containers on the way to it."""
        module: Module = self.model
        for part in parts:
            children = dict(module.named_children())
            if part not in children:
                return not hasattr(module, part)
            module = children[part]
            if not isinstance(module, nn.ModuleDict):
                return False
        return False

    def add(self, node: Any) -> None:
        self.node = node
        if node.domain not in ("", "ai.onnx"):
            raise self.fail(f"operators of domain {node.domain!r} are not supported")
        convert = OPERATORS.get(node.op_type)
        if convert is None:
            raise self.fail(f"operator not supported (Ember imports {', '.join(sorted(OPERATORS))})")
        run = convert(self, list(node.input), self.attributes())
        self.model.steps.append(Step(node.name, list(node.input), node.output[0], run))


def symmetric(builder: Builder, pads: list[int]) -> tuple[int, int]:
    top, left, bottom, right = pads or [0, 0, 0, 0]
    if (top, left) != (bottom, right):
        raise builder.fail(f"asymmetric padding {pads}: Ember's layers pad both sides alike")
    return top, left


def check_auto_pad(builder: Builder, attributes: dict[str, Any]) -> None:
    if attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise builder.fail("auto_pad is not supported (give the pads)")


def conv(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    check_auto_pad(builder, attributes)
    weight = builder.constant(inputs[1])
    bias = builder.constant(inputs[2]) if len(inputs) > 2 and inputs[2] else None
    transposed = builder.node.op_type == "ConvTranspose"
    if weight.ndim != 4:
        raise builder.fail("only 2-d convolutions are supported")
    if transposed and "output_shape" in attributes:
        raise builder.fail("output_shape is not supported (give output_padding)")
    groups = int(attributes.get("group", 1))
    settings = {
        "kernel_size": tuple(weight.shape[2:]),
        "stride": tuple(attributes.get("strides", (1, 1))),
        "padding": symmetric(builder, list(attributes.get("pads", []))),
        "dilation": tuple(attributes.get("dilations", (1, 1))),
        "groups": groups,
        "bias": bias is not None,
    }
    if transposed:
        channels = (weight.shape[0], weight.shape[1] * groups)
        settings["output_padding"] = tuple(attributes.get("output_padding", (0, 0)))
        layer_type: Any = nn.ConvTranspose2d
    else:
        channels, layer_type = (weight.shape[1] * groups, weight.shape[0]), nn.Conv2d
    state = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    layer = builder.module(inputs, lambda: layer_type(*channels, **settings), state)
    return lambda values: layer(values[0])


def gemm(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    if (
        attributes.get("transA", 0)
        or attributes.get("alpha", 1.0) != 1.0
        or attributes.get("beta", 1.0) != 1.0
    ):
        raise builder.fail("only Gemm with transA=0, alpha=1 and beta=1 (a linear layer) is supported")
    weight = builder.constant(inputs[1])
    if not attributes.get("transB", 0):
        weight = weight.T
    bias = builder.constant(inputs[2]) if len(inputs) > 2 and inputs[2] else None
    if bias is not None and bias.shape != (weight.shape[0],):
        raise builder.fail(f"a bias of shape {bias.shape} (one per output expected)")
    state = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    make = lambda: nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)  # noqa: E731
    layer = builder.module(inputs, make, state)
    return lambda values: layer(values[0])


def batch_norm(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    scale, shift, mean, var = (builder.constant(name) for name in inputs[1:5])
    layer_type = nn.BatchNorm1d if builder.ranks.get(inputs[0], 4) in (2, 3) else nn.BatchNorm2d
    state = {"weight": scale, "bias": shift, "running_mean": mean, "running_var": var}
    eps = float(attributes.get("epsilon", 1e-5))

    def make() -> Module:
        layer = layer_type(len(scale), eps=eps)
        layer.eval()
        return layer

    layer = builder.module(inputs, make, state | {"num_batches_tracked": np.array(0, dtype=np.int64)})
    return lambda values: layer(values[0])


def prelu(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    slope = builder.constant(inputs[1]).reshape(-1)
    layer = builder.module(inputs, lambda: nn.PReLU(slope.size), {"weight": slope})
    return lambda values: layer(values[0])


def pool(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    check_auto_pad(builder, attributes)
    kernel = tuple(attributes["kernel_shape"])
    stride = tuple(attributes.get("strides", (1,) * len(kernel)))
    padding = symmetric(builder, list(attributes.get("pads", [])))
    ceil = bool(attributes.get("ceil_mode", 0))
    if builder.node.op_type == "MaxPool":
        dilation = tuple(attributes.get("dilations", (1, 1)))
        return lambda values: F.max_pool2d(values[0], kernel, stride, padding, dilation, ceil)
    include_pad = bool(attributes.get("count_include_pad", 0))
    return lambda values: F.avg_pool2d(values[0], kernel, stride, padding, ceil, include_pad)


def fixed(function: Callable[..., Any], **read: Callable[[dict[str, Any]], Any]) -> Callable[..., Run]:
    """A node computed by ``function(x, **settings)``, its settings read off the attributes."""

    def convert(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
        settings = {key: get(attributes) for key, get in read.items()}
        return lambda values: function(values[0], **settings)

    return convert


def elementwise(function: Callable[..., Any]) -> Callable[..., Run]:
    def convert(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
        return lambda values: function(*values)

    return convert


def reshape(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    target = [int(s) for s in builder.constant(inputs[1])]
    if attributes.get("allowzero", 0) and 0 in target:
        raise builder.fail("allowzero=1 with a 0 in the shape is not supported")

    def run(values: list[Any]) -> Any:
        x = values[0]
        return ops.reshape(x, tuple(x.shape[i] if s == 0 else s for i, s in enumerate(target)))

    return run


def flatten(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    axis = int(attributes.get("axis", 1))

    def run(values: list[Any]) -> Any:
        x = values[0]
        start = axis % x.ndim if x.ndim else 0
        rows = int(np.prod(x.shape[:start]))
        return ops.reshape(x, (rows, -1))

    return run


def axes_of(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> list[int] | None:
    if "axes" in attributes:
        return [int(a) for a in attributes["axes"]]
    if len(inputs) > 1 and inputs[1]:
        return [int(a) for a in builder.constant(inputs[1])]
    return None


def reduction(function: Callable[..., Any]) -> Callable[..., Run]:
    def convert(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
        axes = axes_of(builder, inputs, attributes)
        keepdim = bool(attributes.get("keepdims", 1))
        if axes is None and attributes.get("noop_with_empty_axes", 0):
            return lambda values: values[0]
        dim = None if axes is None else tuple(axes)
        return lambda values: function(values[0], dim, keepdim)

    return convert


def squeeze(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    axes = axes_of(builder, inputs, attributes)
    if builder.node.op_type == "Squeeze":
        return lambda values: ops.squeeze(values[0], None if axes is None else tuple(axes))

    def unsqueeze(values: list[Any]) -> Any:
        x = values[0]
        for axis in sorted(a % (x.ndim + len(axes or [])) for a in axes or []):
            x = ops.unsqueeze(x, axis)
        return x

    return unsqueeze


def slice_bounds(start: int, end: int, step: int, size: int) -> slice:
    """ONNX's Slice bounds as a Python slice: negative ones count from the end, then are clamped."""
    start, end = start + size if start < 0 else start, end + size if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), size), min(max(end, 0), size), step)
    start, end = min(max(start, 0), size - 1), min(max(end, -1), size - 1)
    return slice(start, None if end == -1 else end, step)


def slice_(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    starts, ends = builder.constant(inputs[1]), builder.constant(inputs[2])
    axes = builder.constant(inputs[3]) if len(inputs) > 3 and inputs[3] else np.arange(len(starts))
    steps = builder.constant(inputs[4]) if len(inputs) > 4 and inputs[4] else np.ones(len(starts), np.int64)

    def run(values: list[Any]) -> Any:
        x = values[0]
        index = [slice(None)] * x.ndim
        for axis, start, stop, step in zip(axes, starts, ends, steps, strict=True):
            axis = int(axis) % x.ndim
            index[axis] = slice_bounds(int(start), int(stop), int(step), x.shape[axis])
        return x[tuple(index)]

    return run


def pad(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    if attributes.get("mode", b"constant") not in (b"constant", "constant"):
        raise builder.fail("only constant padding is supported")
    if len(inputs) > 3 and inputs[3]:
        raise builder.fail("Pad with axes is not supported")
    pads = [int(p) for p in builder.constant(inputs[1])]
    value = float(builder.constant(inputs[2])) if len(inputs) > 2 and inputs[2] else 0.0
    ndim = len(pads) // 2
    widths = []
    for axis in reversed(range(ndim)):
        widths += [pads[axis], pads[axis + ndim]]
    return lambda values: ops.pad(values[0], widths, value=value)


def clip(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    return lambda values: ops.clamp(values[0], *[values[i] if i < len(values) else None for i in (1, 2)])


def concat(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    axis = int(attributes["axis"])
    return lambda values: ops.cat(values, axis)


def transpose(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    perm = attributes.get("perm")
    return lambda values: ops.permute(values[0], tuple(perm or reversed(range(values[0].ndim))))


def identity(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    return lambda values: values[0]


def shape(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    """The input's shape as an int64 tensor (a Resize's sizes are computed from it)."""
    if "start" in attributes or "end" in attributes:
        raise builder.fail("Shape with start or end is not supported")
    return lambda values: from_numpy(np.array(values[0].shape, dtype=np.int64))


RESIZE_MODES = {  # (mode, coordinate_transformation_mode) -> interpolate's mode and align_corners
    ("linear", "pytorch_half_pixel"): ("bilinear", False),
    ("linear", "align_corners"): ("bilinear", True),
    ("nearest", "asymmetric"): ("nearest", None),
}


def resize(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    """Resize as ``F.interpolate``: the modes the exporter writes (PyTorch's sampling) and no other."""
    text = {key: value.decode() if isinstance(value, bytes) else value for key, value in attributes.items()}
    key = (text.get("mode", "nearest"), text.get("coordinate_transformation_mode", "half_pixel"))
    if key not in RESIZE_MODES or (key[0] == "nearest" and text.get("nearest_mode") != "floor"):
        raise builder.fail(
            f"mode {key[0]!r} with coordinate_transformation_mode {key[1]!r} is not supported (Ember reads "
            "linear with pytorch_half_pixel or align_corners, and nearest asymmetric floor)"
        )
    mode, corners = RESIZE_MODES[key]
    if len(inputs) > 3 and inputs[3]:  # sizes: a constant or computed from the input's shape
        return lambda values: F.interpolate(
            values[0],
            size=tuple(int(n) for n in as_numbers(values[3])[-2:]),
            mode=mode,
            align_corners=corners,
        )
    scales = builder.constant(inputs[2])
    if len(scales) != 4 or scales[0] != 1 or scales[1] != 1:
        raise builder.fail(f"scales {list(scales)}: Ember resizes the last two axes only")
    factors = (float(scales[2]), float(scales[3]))
    return lambda values: F.interpolate(values[0], scale_factor=factors, mode=mode, align_corners=corners)


def as_numbers(value: Any) -> np.ndarray:
    return value.array if isinstance(value, Tensor) else np.asarray(value)


def lrn(builder: Builder, inputs: list[str], attributes: dict[str, Any]) -> Run:
    size, alpha = int(attributes["size"]), float(attributes.get("alpha", 1e-4))
    beta, k = float(attributes.get("beta", 0.75)), float(attributes.get("bias", 1.0))
    if size % 2 == 0:
        raise builder.fail(f"LRN of even size {size} (ONNX centers its window otherwise than Ember)")
    return lambda values: F.local_response_norm(values[0], size, alpha, beta, k)


OPERATORS: dict[str, Callable[..., Run]] = {
    "Conv": conv,
    "ConvTranspose": conv,
    "Gemm": gemm,
    "BatchNormalization": batch_norm,
    "PRelu": prelu,
    "MaxPool": pool,
    "AveragePool": pool,
    "GlobalAveragePool": fixed(F.adaptive_avg_pool2d, output_size=lambda a: 1),
    "GlobalMaxPool": fixed(F.adaptive_max_pool2d, output_size=lambda a: 1),
    "LRN": lrn,
    "Relu": fixed(F.relu),
    "LeakyRelu": fixed(F.leaky_relu, negative_slope=lambda a: float(a.get("alpha", 0.01))),
    "Elu": fixed(F.elu, alpha=lambda a: float(a.get("alpha", 1.0))),
    "Sigmoid": fixed(F.sigmoid),
    "Tanh": fixed(F.tanh),
    "Softmax": fixed(F.softmax, dim=lambda a: int(a.get("axis", -1))),
    "LogSoftmax": fixed(F.log_softmax, dim=lambda a: int(a.get("axis", -1))),
    "Exp": elementwise(ops.exp),
    "Log": elementwise(ops.log),
    "Sqrt": elementwise(ops.sqrt),
    "Abs": elementwise(ops.abs),
    "Neg": elementwise(ops.neg),
    "Floor": elementwise(ops.floor),
    "Ceil": elementwise(ops.ceil),
    "Round": elementwise(ops.round),
    "Add": elementwise(ops.add),
    "Sub": elementwise(ops.sub),
    "Mul": elementwise(ops.mul),
    "Div": elementwise(ops.div),
    "Pow": elementwise(ops.pow),
    "Max": elementwise(ops.maximum),
    "Min": elementwise(ops.minimum),
    "MatMul": elementwise(ops.matmul),
    "Clip": clip,
    "Concat": concat,
    "Flatten": flatten,
    "Reshape": reshape,
    "Squeeze": squeeze,
    "Unsqueeze": squeeze,
    "Slice": slice_,
    "Pad": pad,
    "Transpose": transpose,
    "ReduceMean": reduction(ops.mean),
    "ReduceSum": reduction(ops.sum),
    "ReduceMax": reduction(ops.amax),
    "ReduceMin": reduction(ops.amin),
    "Identity": identity,
    "Dropout": identity,
    "Shape": shape,
    "Resize": resize,
}


def import_model(source: Any) -> ImportedModel:
    """An Ember module computing what the ONNX model ``source`` (a path, bytes or ModelProto) computes.

    In eval mode. Raises ``ExportError`` naming the node for an operator outside the supported subset.
    """
    onnx = require_onnx()
    if isinstance(source, bytes):
        proto = onnx.load_from_string(source)
    elif hasattr(source, "graph"):
        proto = source
    else:
        path = os.fspath(source)
        if not os.path.exists(path):
            raise ExportError(f"import: {path}: no such file")
        try:
            proto = onnx.load(path)
        except Exception as error:  # protobuf's DecodeError and kin
            raise ExportError(f"import: {path} is not an ONNX file ({error})") from error
    versions = {o.domain: o.version for o in proto.opset_import}
    opset = versions.get("", versions.get("ai.onnx"))
    if opset is None or opset < min(IR_VERSIONS):
        raise ExportError(f"import: opset {opset}: Ember imports opset {min(IR_VERSIONS)} and later")
    builder = Builder(proto)
    used = {name for node in proto.graph.node for name in node.input}
    for node in proto.graph.node:
        builder.add(node)
    model = builder.model
    for name, array in builder.arrays.items():
        if name in used and name not in builder.owned:
            model.constants[name] = from_numpy(np.ascontiguousarray(array))
    return model.eval()  # type: ignore[return-value]
