"""ONNX conversions of ``ember.nn.functional``'s calls (``F.relu(self.conv1(x))``, ``F.max_pool2d(x, 2)``).

A PyTorch user's ``forward`` often calls the functional forms instead of holding layer modules. Each
function here is the layer of the same name seen through its arguments: the call's arguments become the
attributes the layer's converter reads (``kernel_size``, ``stride``, ``weight``, ...), and that converter
(``ember.onnx.layers``) writes the node(s), so each conversion is written once. A tensor argument that is a
parameter or buffer of the model (``self.conv.weight``) is stored as the initializer of its state-dict key.
The functions ``F`` shares with ``ember.ops`` (``F.linear``, ``F.pad``) convert as the operations do.

Eval-mode semantics, as the layers': ``F.dropout(x, p, training=self.training)`` is the identity, and
``F.batch_norm(..., training=False)`` one BatchNormalization node. A call that is random or uses the
batch's own statistics at export time (``F.dropout(x, 0.5)``: its ``training`` defaults to True, as in
PyTorch) is refused, naming the call and what to pass.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from ember.nn.functional.conv import pair
from ember.onnx import layers
from ember.onnx.trace import Call

Converter = Callable[[Call], str]


def as_layer(convert: Converter, view: Callable[[Call, dict[str, Any]], dict[str, Any]]) -> Converter:
    """The layer converter ``convert`` on a module-like view of the call's arguments (``view`` maps the
    arguments by name to the layer's attribute names)."""

    def functional(call: Call) -> str:
        call.module = SimpleNamespace(**view(call, call.arguments))
        return convert(call)

    return functional


def _conv(call: Call, a: dict[str, Any]) -> dict[str, Any]:
    return {
        "weight": a["weight"],
        "bias": a["bias"],
        "kernel_size": tuple(a["weight"].shape[2:]),
        "stride": pair(a["stride"], "stride", "conv2d"),
        "padding": a["padding"] if isinstance(a["padding"], str) else pair(a["padding"], "padding", "conv2d"),
        "dilation": pair(a["dilation"], "dilation", "conv2d"),
        "groups": a["groups"],
        "padding_mode": "zeros",
    }


def _pool(call: Call, a: dict[str, Any]) -> dict[str, Any]:
    stride = a["kernel_size"] if a["stride"] is None or a["stride"] == [] else a["stride"]
    return {
        **a,
        "stride": stride,
        "dilation": a.get("dilation", 1),
        "return_indices": a.get("return_indices", False),
        "divisor_override": a.get("divisor_override"),
    }


def _batch_norm(call: Call, a: dict[str, Any]) -> dict[str, Any]:
    if a["training"]:
        raise call.fail(
            "F.batch_norm(..., training=True) normalizes with each batch's own statistics; pass "
            "training=self.training (the exporter runs the model in eval mode)"
        )
    return {**a, "num_features": call.args[0].shape[1]}


def _dropout(call: Call, a: dict[str, Any]) -> dict[str, Any]:
    if a["training"] and a["p"] > 0:
        raise call.fail(
            "F.dropout(...) with training=True (its default, as in PyTorch) drops at random at test time "
            "too; pass training=self.training (the exporter runs the model in eval mode)"
        )
    return {}


def _same(call: Call, a: dict[str, Any]) -> dict[str, Any]:
    return dict(a)


FUNCTIONAL: dict[str, Converter] = {
    "relu": as_layer(layers.simple("Relu"), _same),
    "sigmoid": as_layer(layers.simple("Sigmoid"), _same),
    "tanh": as_layer(layers.simple("Tanh"), _same),
    "leaky_relu": as_layer(layers.simple("LeakyRelu", alpha=lambda m: float(m.negative_slope)), _same),
    "elu": as_layer(layers.simple("Elu", alpha=lambda m: float(m.alpha)), _same),
    "prelu": as_layer(layers.prelu, _same),
    "silu": as_layer(layers.silu, _same),
    "gelu": as_layer(layers.gelu, _same),
    "softmax": as_layer(layers.softmax("Softmax"), _same),
    "log_softmax": as_layer(layers.softmax("LogSoftmax"), _same),
    "conv2d": as_layer(layers.conv2d, _conv),
    "conv_transpose2d": as_layer(layers.conv_transpose2d, _conv),
    "batch_norm": as_layer(layers.batch_norm, _batch_norm),
    "local_response_norm": as_layer(layers.local_response_norm, _same),
    "max_pool2d": as_layer(layers.max_pool2d, _pool),
    "avg_pool2d": as_layer(layers.avg_pool2d, _pool),
    "adaptive_avg_pool2d": as_layer(layers.adaptive_avg_pool2d, _same),
    "adaptive_max_pool2d": as_layer(layers.adaptive_max_pool2d, _same),
    "dropout": as_layer(layers.identity, _dropout),
    "dropout2d": as_layer(layers.identity, _dropout),
    "interpolate": as_layer(layers.upsample, _same),
}
