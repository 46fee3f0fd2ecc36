"""``Graph``: an ONNX graph under construction (nodes, initializers, unique names), and the model file.

The exporter's converters add nodes with ``graph.node("Conv", [x, w, b], name="features.0", strides=...)``
and weights with ``graph.initializer(array, "features.0.weight")``; ``graph.model(...)`` assembles the
``onnx.ModelProto`` with the opset and IR version pinned (``IR_VERSIONS``: the IR version the ONNX release
that introduced the opset wrote, so a runtime as old as the opset loads the file). Nodes are kept in the
order they were added, which is an order of execution (ONNX requires a topologically sorted graph).
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy as np

from ember.errors import EmberError

# opset -> the IR version of the ONNX release that introduced it (onnx.helper.VERSION_TABLE)
IR_VERSIONS = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9}
OPSET = 17


class ExportError(EmberError, ValueError):
    """A model (or a part of it) that cannot be written as ONNX; the message names the module."""


def require_onnx() -> Any:
    """The ``onnx`` package, or an error saying how to install it."""
    try:
        import onnx
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ExportError("ONNX files need the onnx package: pip install 'ember[onnx]'") from error
    return onnx


class Graph:
    """Nodes and initializers in the order they are made; every value and node name unique."""

    def __init__(self, opset: int = OPSET) -> None:
        if opset not in IR_VERSIONS:
            raise ExportError(f"opset {opset} is not supported: choose one of {sorted(IR_VERSIONS)}")
        self.opset = opset
        self.onnx = require_onnx()
        self.nodes: list[Any] = []
        self.initializers: dict[str, np.ndarray] = {}
        self._taken: set[str] = set()
        self._constants: dict[tuple[str, bytes, tuple[int, ...]], str] = {}

    def unique(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``, ... if taken (a module called twice, a repeated op)."""
        name, count = base, 1
        while name in self._taken:
            count += 1
            name = f"{base}_{count}"
        self._taken.add(name)
        return name

    def initializer(self, array: np.ndarray, name: str) -> str:
        """A named weight (its state-dict key), stored as it is: exported bit for bit."""
        name = self.unique(name)
        self.initializers[name] = np.asarray(array, order="C")
        return name

    def constant(self, value: Any, dtype: Any = np.float32) -> str:
        """An unnamed constant (a scalar, a shape, slice bounds); equal constants share one initializer."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.tobytes(), array.shape)
        if key not in self._constants:
            self._constants[key] = self.initializer(array, "const")
        return self._constants[key]

    def node(self, op_type: str, inputs: list[str], name: str, outputs: int = 1, **attributes: Any) -> Any:
        """Add a node named ``name`` (made unique); returns its output name, or the list of them."""
        name = self.unique(name)
        names = [name] + [self.unique(f"{name}:{i}") for i in range(1, outputs)]
        attributes = {key: value for key, value in attributes.items() if value is not None}
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names, name=name, **attributes))
        return names[0] if outputs == 1 else names

    def rename(self, old: str, new: str) -> None:
        """Call value ``old`` ``new`` everywhere (the graph's outputs get readable names)."""
        for node in self.nodes:
            for field in (node.input, node.output):
                for i, value in enumerate(field):
                    if value == old:
                        field[i] = new
        self._taken.add(new)

    def model(
        self,
        inputs: list[tuple[str, tuple[Any, ...]]],
        outputs: list[tuple[str, tuple[Any, ...]]],
        graph_name: str,
    ) -> Any:
        """The ``ModelProto``: float32 inputs and outputs of the given shapes (a str is a symbolic size).

        The initializers are written into the message in place (one copy of the weights; building
        TensorProtos and extending the graph with them copies every byte twice more)."""
        onnx, helper = self.onnx, self.onnx.helper

        def value(name: str, shape: tuple[Any, ...]) -> Any:
            return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, list(shape))

        model = onnx.ModelProto(
            ir_version=IR_VERSIONS[self.opset], producer_name="ember", producer_version=_version()
        )
        model.opset_import.add(domain="", version=self.opset)
        graph = model.graph
        graph.name = graph_name
        graph.node.extend(self.nodes)
        for name, array in self.initializers.items():
            tensor = graph.initializer.add(name=name, dims=array.shape)
            tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
            tensor.raw_data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        graph.input.extend([value(name, shape) for name, shape in inputs])
        graph.output.extend([value(name, shape) for name, shape in outputs])
        return model

    def weight_bytes(self) -> int:
        return sum(array.nbytes for array in self.initializers.values())


def _version() -> str:
    try:
        return importlib.metadata.version("ember")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"
