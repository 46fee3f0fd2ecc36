"""ONNX, the exchange format of deployment: ``ember.onnx.export`` writes a model's graph, ``import_model``
reads one back.

``export(model, example_input, "model.onnx")`` runs the model once on the example (in eval mode) and
records what it computes: each layer as its ONNX operator (Conv, Gemm, BatchNormalization, MaxPool, Relu,
LRN, ...), and the operations that ``forward`` applies between layers (residual additions, concatenations,
the SE block's scaling, flatten, slices) as theirs. Tracing the forward pass, rather than code for each
architecture, exports any model built from Ember's layers and operations, the zoo's and a user's own; the
price is that the graph is the path the example took (Python control flow is unrolled), as with
``torch.onnx.export``'s tracer. How the trace sees each step is in ``ember.onnx.trace``. Anything it cannot
express with the same numbers is refused with the module's name (``ExportError``).

The file pins opset 17 and the IR version of the ONNX release that introduced it (8), so older runtimes
load it; the batch dimension is symbolic (``dynamic_batch=True``). ``compare(model, file, inputs)``
measures onnxruntime's outputs against Ember's. Needs the ``onnx`` extra: ``pip install 'ember[onnx]'``.
"""

from ember.onnx.export import compare, export, session
from ember.onnx.graph import IR_VERSIONS, OPSET, ExportError
from ember.onnx.load import ImportedModel, import_model

__all__ = [
    "IR_VERSIONS",
    "OPSET",
    "ExportError",
    "ImportedModel",
    "compare",
    "export",
    "import_model",
    "session",
]
