"""``export``: an Ember model as an ONNX file; ``compare``: the file run by onnxruntime against the model."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from ember import ops
from ember.atomic import atomic_write
from ember.autograd import Tensor, enable_grad, from_numpy, no_grad
from ember.nn import functional as F
from ember.nn.module import Module
from ember.onnx.functional import FUNCTIONAL
from ember.onnx.functions import FUNCTIONS
from ember.onnx.graph import OPSET, ExportError, Graph, require_onnx
from ember.onnx.layers import LAYERS
from ember.onnx.trace import Namespace, Tracer, outputs_of

PROTOBUF_LIMIT = 2**31 - 1  # a protobuf message (the whole file, weights inline) is at most 2 GB


def as_array(example_input: Any) -> np.ndarray:
    array = example_input.array if isinstance(example_input, Tensor) else np.asarray(example_input)
    if array.dtype.kind != "f" or array.ndim < 1:
        raise ExportError(
            f"export: example_input must be a floating-point batch (N, ...), got {array.dtype} of shape "
            f"{array.shape}"
        )
    return np.array(array, dtype=np.float32)


def namespaces() -> list[Namespace]:
    """Where a model's forward finds its functions: ember.ops (Tensor's operators and methods call it),
    ember.nn.functional, and the operations the package re-exports at its top (``ember.flatten``, as
    ``torch.flatten``). The top package is the one already loaded (``sys.modules``), not imported: it is
    the public API above this layer, and its operations are ember.ops's own functions."""
    top = sys.modules["ember"]
    again = [name for name in ops.__all__ if getattr(top, name, None) is getattr(ops, name)]
    shared = {name: FUNCTIONS[name] for name in FUNCTIONS if getattr(F, name, None) is getattr(ops, name, 0)}
    return [(ops, FUNCTIONS, None), (F, {**shared, **FUNCTIONAL}, None), (top, FUNCTIONS, again)]


def export(
    model: Module,
    example_input: Any,
    path: str | os.PathLike[str] | None = None,
    opset: int = OPSET,
    dynamic_batch: bool = True,
    metadata: dict[str, str] | None = None,
) -> Any:
    """Trace ``model`` (in eval mode) on ``example_input`` and write its ONNX graph to ``path``.

    Returns the ``onnx.ModelProto`` (checked with ``onnx.checker.check_model(full_check=True)``). The
    graph has one input, ``input``, and one output per tensor the model returns (``output``, then
    ``output_1``, ...); with ``dynamic_batch`` their first dimension is the symbolic ``batch``, and the
    other sizes are the example's. ``metadata`` goes into the file's ``metadata_props`` (what a
    deployment needs to know: classes, input normalization). Raises ``ExportError`` naming the module for
    anything not exportable.
    """
    onnx = require_onnx()
    array = as_array(example_input)
    graph = Graph(opset)
    tracer = Tracer(model, graph, dynamic_batch, LAYERS, namespaces())
    with enable_grad():
        leaf = from_numpy(array).requires_grad_()
        traced_input = leaf.clone()  # not a leaf: an in-place first layer may change it
        tracer.tag(traced_input, "input")
        with tracer.tracing():
            output = model(traced_input)
    tensors = outputs_of(output)
    if not tensors or (not isinstance(output, Tensor) and len(tensors) != len(output)):
        raise ExportError(
            f"export: {type(model).__name__} returned a {type(output).__name__}; the exporter needs a "
            "tensor or a tuple of tensors"
        )
    batch: Any = "batch" if dynamic_batch else array.shape[0]
    outputs = []
    for i, tensor in enumerate(tensors):
        wanted, name = "output" if i == 0 else f"output_{i}", tracer.value(tensor)
        if name == "input" or name in graph.initializers or name.startswith("output"):
            graph.node("Identity", [name], wanted)
        else:
            graph.rename(name, wanted)
        outputs.append((wanted, (batch, *tensor.shape[1:]) if dynamic_batch else tensor.shape))
    if graph.weight_bytes() > PROTOBUF_LIMIT:
        raise ExportError(
            f"export: {type(model).__name__}'s weights ({graph.weight_bytes() / 2**30:.1f} GB) are over "
            "ONNX's 2 GB limit for one file"
        )
    proto = graph.model([("input", (batch, *array.shape[1:]))], outputs, type(model).__name__)
    for key, text in (metadata or {}).items():
        proto.metadata_props.add(key=key, value=text)
    serialized = proto.SerializeToString()  # once, for the checker and the file (500 MB for a VGG)
    onnx.checker.check_model(serialized, full_check=True)
    if path is not None:
        atomic_write(path, serialized)
    return proto


def session(onnx_model: Any, threads: int = 1) -> Any:
    """An onnxruntime session on the CPU for a ModelProto, a file's bytes or a path."""
    try:
        import onnxruntime
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ExportError("running ONNX files needs onnxruntime: pip install 'ember[onnx]'") from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    if hasattr(onnx_model, "SerializeToString"):
        onnx_model = onnx_model.SerializeToString()
    elif not isinstance(onnx_model, bytes):
        onnx_model = os.fspath(onnx_model)
    return onnxruntime.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])


def compare(model: Module, onnx_model: Any, inputs: Any, threads: int = 1) -> float:
    """max |ours - onnxruntime's| / max |ours|, over the batches in ``inputs``, for the worst output.

    The model runs in eval mode under ``no_grad`` (its mode is restored). One scale for all the batches,
    so that a batch of one sample with small outputs does not stand for the model's scale. The exporter is
    held to 1e-5: float32 results summed in another order.
    """
    runner = session(onnx_model, threads)
    differences: dict[int, float] = {}
    scales: dict[int, float] = {}
    was_training = model.training
    model.eval()
    try:
        for batch in inputs if isinstance(inputs, list) else [inputs]:
            array = as_array(batch)
            with no_grad():
                ours = [t.array for t in outputs_of(model(from_numpy(array)))]
            theirs = runner.run(None, {"input": array})
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
                if not np.isfinite(a).all():
                    raise ExportError("compare: the model's outputs are not finite; nothing to compare")
                if a.shape != b.shape:
                    raise ExportError(f"compare: onnxruntime gave shape {b.shape}, Ember {a.shape}")
                difference = float(np.abs(a - b).max())  # NaN if onnxruntime gives a NaN: infinitely far
                difference = difference if np.isfinite(difference) else np.inf
                differences[i] = max(differences.get(i, 0.0), difference)
                scales[i] = max(scales.get(i, 0.0), float(np.abs(a).max()))
    finally:
        model.train(was_training)
    tiny = float(np.finfo(np.float32).tiny)
    return max(differences[i] / max(scales[i], tiny) for i in differences)
