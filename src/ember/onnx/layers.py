"""ONNX conversions of Ember's layers: one function per layer type, in ``LAYERS``.

Each receives the ``Call`` of one module call (the module, its inputs, its output as computed) and adds
the node(s) that compute the same thing, with the module's parameters as initializers named by their
state-dict keys (``features.0.weight``), stored bit for bit. Settings the graph needs but the module does
not hold directly (the output padding of a transposed convolution called with ``output_size``, the
windows of an adaptive pool) are read off the shapes the trace observed.

Eval-mode semantics: dropout is the identity and batch norm uses its running statistics (one
BatchNormalization node). A layer that ONNX cannot express with the same numbers (an LRN of even size,
whose window ONNX centers differently; batch norm without running statistics, a pool that returns indices,
circular padding) is refused, naming the module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ember import nn
from ember.nn.functional.conv import pair, resolve_padding
from ember.onnx.functions import affine
from ember.onnx.trace import Call

PAD_MODES = {"reflect": "reflect", "replicate": "edge"}


def onnx_pads(top: int, bottom: int, left: int, right: int) -> list[int]:
    """ONNX's order: the begins of every spatial axis, then the ends."""
    return [top, left, bottom, right]


def conv2d(call: Call) -> str:
    module: nn.Conv2d = call.module
    x = call.input()
    top, bottom, left, right = resolve_padding(
        module.padding, module.kernel_size, module.stride, module.dilation, "Conv2d"
    )
    if module.padding_mode != "zeros":
        if module.padding_mode not in PAD_MODES:
            raise call.fail(
                f"padding_mode {module.padding_mode!r} has no ONNX Pad mode in opset {call.opset}"
            )
        pads = [0, 0, top, left, 0, 0, bottom, right]
        x = call.node("Pad", [x, call.int64(pads)], mode=PAD_MODES[module.padding_mode])
        top = bottom = left = right = 0
    inputs = [x, call.parameter("weight")] + ([call.parameter("bias")] if module.bias is not None else [])
    return call.node(
        "Conv",
        inputs,
        kernel_shape=list(module.kernel_size),
        strides=list(module.stride),
        pads=onnx_pads(top, bottom, left, right),
        dilations=list(module.dilation),
        group=module.groups,
    )


def conv_transpose2d(call: Call) -> str:
    module: nn.ConvTranspose2d = call.module
    assert isinstance(module.padding, tuple)
    source, result = call.args[0].shape[-2:], call.output.shape[-2:]
    output_padding = []
    for size, out, k, s, p, d in zip(
        source, result, module.kernel_size, module.stride, module.padding, module.dilation, strict=True
    ):
        output_padding.append(int(out - ((size - 1) * s - 2 * p + d * (k - 1) + 1)))
    inputs = [call.input(), call.parameter("weight")]
    inputs += [call.parameter("bias")] if module.bias is not None else []
    top, left = module.padding
    return call.node(
        "ConvTranspose",
        inputs,
        kernel_shape=list(module.kernel_size),
        strides=list(module.stride),
        pads=onnx_pads(top, top, left, left),
        dilations=list(module.dilation),
        group=module.groups,
        output_padding=output_padding,
    )


def linear(call: Call) -> str:
    module: nn.Linear = call.module
    bias = call.parameter("bias") if module.bias is not None else None
    return affine(call, call.args[0], call.parameter("weight"), bias)


def maxout(call: Call) -> str:
    """The Linear layer's scores, grouped in runs of ``pieces``, reduced by their maximum."""
    module: nn.Maxout = call.module
    scores = linear(call)
    x = call.args[0]
    shape = (*x.shape[:-1], module.out_features, module.pieces)
    grouped = call.reshape(scores, shape, (*x.shape[:-1], module.out_features * module.pieces))
    return call.reduce("ReduceMax", grouped, [len(shape) - 1], keepdims=False)


def batch_norm(call: Call) -> str:
    module = call.module
    if module.running_mean is None or module.running_var is None:
        raise call.fail(
            "batch norm without running statistics (track_running_stats=False) normalizes with each "
            "batch's own statistics at test time, which ONNX's BatchNormalization cannot"
        )
    channels = module.num_features
    scale = call.parameter("weight") if module.weight is not None else call.constant(np.ones(channels))
    shift = call.parameter("bias") if module.bias is not None else call.constant(np.zeros(channels))
    inputs = [call.input(), scale, shift, call.parameter("running_mean"), call.parameter("running_var")]
    return call.node("BatchNormalization", inputs, epsilon=float(module.eps))


def pool_settings(call: Call, module: Any) -> dict[str, Any]:
    kernel = pair(module.kernel_size, "kernel_size", "pool")
    stride = pair(module.stride, "stride", "pool")
    top, left = pair(module.padding, "padding", "pool")
    return {
        "kernel_shape": list(kernel),
        "strides": list(stride),
        "pads": onnx_pads(top, top, left, left),
        "ceil_mode": int(module.ceil_mode),
    }


def max_pool2d(call: Call) -> str:
    module: nn.MaxPool2d = call.module
    if module.return_indices:
        raise call.fail("a max pool that returns its indices (for MaxUnpool2d) cannot be exported")
    dilations = list(pair(module.dilation, "dilation", "MaxPool2d"))
    return call.node("MaxPool", [call.input()], dilations=dilations, **pool_settings(call, module))


def avg_pool2d(call: Call) -> str:
    module: nn.AvgPool2d = call.module
    if module.divisor_override is not None:
        raise call.fail("divisor_override has no ONNX equivalent")
    settings = pool_settings(call, module)
    return call.node(
        "AveragePool", [call.input()], count_include_pad=int(module.count_include_pad), **settings
    )


def adaptive_windows(size: int, out: int) -> np.ndarray:
    """(out, size) averaging matrix: row i is 1/len over floor(i size / out) .. ceil((i + 1) size / out)."""
    matrix = np.zeros((out, size), dtype=np.float32)
    for i in range(out):
        start, stop = (i * size) // out, -(-(i + 1) * size // out)
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


def adaptive_avg_pool2d(call: Call) -> str:
    """Global average pool, an AveragePool when the windows tile, else two products with averaging
    matrices (A_h x A_w^T: each output cell the mean of its window, as the adaptive pool's definition)."""
    (height, width), (out_h, out_w) = call.args[0].shape[-2:], call.output.shape[-2:]
    x = call.input()
    if (out_h, out_w) == (1, 1):
        return call.node("GlobalAveragePool", [x])
    if height % out_h == 0 and width % out_w == 0:
        kernel = [height // out_h, width // out_w]
        return call.node("AveragePool", [x], kernel_shape=kernel, strides=kernel)
    columns = call.node("MatMul", [x, call.constant(adaptive_windows(width, out_w).T)])
    return call.node("MatMul", [call.constant(adaptive_windows(height, out_h)), columns])


def adaptive_max_pool2d(call: Call) -> str:
    module: nn.AdaptiveMaxPool2d = call.module
    (height, width), (out_h, out_w) = call.args[0].shape[-2:], call.output.shape[-2:]
    if module.return_indices:
        raise call.fail("a max pool that returns its indices cannot be exported")
    if (out_h, out_w) == (1, 1):
        return call.node("GlobalMaxPool", [call.input()])
    if height % out_h or width % out_w:
        raise call.fail(f"adaptive max pooling of {height}x{width} to {out_h}x{out_w} (windows that overlap)")
    kernel = [height // out_h, width // out_w]
    return call.node("MaxPool", [call.input()], kernel_shape=kernel, strides=kernel)


def prelu(call: Call) -> str:
    module: nn.PReLU = call.module
    ndim = call.args[0].ndim
    slope = module.weight.array
    if slope.size > 1 and ndim > 2:  # one slope per channel (dimension 1): broadcast over the positions
        slope = slope.reshape(slope.size, *([1] * (ndim - 2)))
    return call.node("PRelu", [call.input(), call.parameter("weight", slope)])


def gelu(call: Call) -> str:
    """0.5 x (1 + erf(x / sqrt 2)), or with ``approximate="tanh"``
    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    module: nn.GELU = call.module
    x = call.input()
    if module.approximate == "tanh":
        cube = call.node("Mul", [call.node("Mul", [x, x]), x])
        inner = call.node("Add", [x, call.node("Mul", [cube, call.constant(0.044715)])])
        gate = call.node("Tanh", [call.node("Mul", [inner, call.constant(np.sqrt(2 / np.pi))])])
    else:
        gate = call.node("Erf", [call.node("Div", [x, call.constant(np.sqrt(2.0))])])
    half = call.node("Mul", [x, call.constant(0.5)])
    return call.node("Mul", [half, call.node("Add", [gate, call.constant(1.0)])])


def softmax_axis(call: Call) -> int:
    """The module's dim, or PyTorch's implicit choice when it has none (0 for 0-, 1- and 3-d inputs)."""
    ndim = call.args[0].ndim
    dim = call.module.dim
    dim = (0 if ndim in (0, 1, 3) else 1) if dim is None else dim % ndim
    if dim == 0:
        call.batch_fixed("a softmax along dimension 0")
    return int(dim)


def local_response_norm(call: Call) -> str:
    module: nn.LocalResponseNorm = call.module
    if module.size % 2 == 0:
        raise call.fail(f"an LRN of even size {module.size}: ONNX centers its window differently")
    return call.node(
        "LRN",
        [call.input()],
        size=int(module.size),
        alpha=float(module.alpha),
        beta=float(module.beta),
        bias=float(module.k),
    )


def flatten(call: Call) -> str:
    module, x = call.module, call.args[0]
    start, end = module.start_dim % x.ndim, module.end_dim % x.ndim
    if start == 1 and end == x.ndim - 1:
        return call.node("Flatten", [call.input()], axis=1)
    return call.reshape(call.input(), tuple(call.output.shape), tuple(x.shape))


def reshaped(call: Call) -> str:
    return call.reshape(call.input(), tuple(call.output.shape), tuple(call.args[0].shape))


def upsample(call: Call) -> str:
    """Resize with PyTorch's sampling: 'bilinear' is ONNX's 'linear' at half-pixel centres
    (``pytorch_half_pixel``) or ``align_corners``; 'nearest' reads ``floor(i * scale)`` (``asymmetric``,
    ``floor``). A scale factor goes in as ``scales`` (PyTorch then samples at ``1 / scale_factor``), a
    size as ``sizes``: the batch and channels taken from the input's shape, so the batch stays dynamic."""
    module = call.module
    x = call.input()
    if module.mode == "bilinear":
        transform = "align_corners" if module.align_corners else "pytorch_half_pixel"
        settings: dict[str, Any] = {"mode": "linear", "coordinate_transformation_mode": transform}
    else:
        settings = {
            "mode": "nearest",
            "coordinate_transformation_mode": "asymmetric",
            "nearest_mode": "floor",
        }
    if module.scale_factor is not None:
        factors = (
            module.scale_factor
            if isinstance(module.scale_factor, tuple | list)
            else [module.scale_factor] * 2
        )
        scales = call.constant(np.array([1.0, 1.0, *factors], dtype=np.float32))
        return call.node("Resize", [x, "", scales], **settings)
    leading = call.node("Slice", [call.node("Shape", [x]), call.int64([0]), call.int64([2])])
    sizes = call.node("Concat", [leading, call.int64(list(call.output.shape[-2:]))], axis=0)
    return call.node("Resize", [x, "", "", sizes], **settings)


def identity(call: Call) -> str:
    """Dropout at test time, ``nn.Identity``: no node, the input's value is the output's."""
    return call.input()


def simple(op_type: str, **settings: Callable[[Any], Any]) -> Callable[[Call], str]:
    """A one-node layer whose attributes are read off the module (``alpha=lambda m: m.negative_slope``)."""

    def convert(call: Call) -> str:
        attributes = {key: read(call.module) for key, read in settings.items()}
        return call.node(op_type, [call.input()], **attributes)

    return convert


def silu(call: Call) -> str:
    x = call.input()
    return call.node("Mul", [x, call.node("Sigmoid", [x])])


def softmax(op_type: str) -> Callable[[Call], str]:
    def convert(call: Call) -> str:
        return call.node(op_type, [call.input()], axis=softmax_axis(call))

    return convert


LAYERS: dict[type, Callable[[Call], str]] = {
    nn.Conv2d: conv2d,
    nn.ConvTranspose2d: conv_transpose2d,
    nn.Linear: linear,
    nn.Maxout: maxout,
    nn.BatchNorm1d: batch_norm,
    nn.BatchNorm2d: batch_norm,
    nn.MaxPool2d: max_pool2d,
    nn.AvgPool2d: avg_pool2d,
    nn.AdaptiveAvgPool2d: adaptive_avg_pool2d,
    nn.AdaptiveMaxPool2d: adaptive_max_pool2d,
    nn.ReLU: simple("Relu"),
    nn.LeakyReLU: simple("LeakyRelu", alpha=lambda m: float(m.negative_slope)),
    nn.PReLU: prelu,
    nn.ELU: simple("Elu", alpha=lambda m: float(m.alpha)),
    nn.SiLU: silu,
    nn.GELU: gelu,
    nn.Sigmoid: simple("Sigmoid"),
    nn.Tanh: simple("Tanh"),
    nn.Softmax: softmax("Softmax"),
    nn.LogSoftmax: softmax("LogSoftmax"),
    nn.LocalResponseNorm: local_response_norm,
    nn.Flatten: flatten,
    nn.Unflatten: reshaped,
    nn.Dropout: identity,
    nn.Dropout2d: identity,
    nn.Identity: identity,
    nn.Upsample: upsample,
}
