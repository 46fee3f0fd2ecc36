"""ONNX conversions of the ``ember.ops`` operations that a model's ``forward`` uses between its layers.

The glue of the zoo: residual additions (``F(x) + x``), the SE block's channel scaling (``x * weights``
after a reshape to (N, C, 1, 1)) and its squeeze (``x.mean(dim=(2, 3))``), Inception's, DenseNet's and
SqueezeNet's concatenations (``ops.cat(branches, 1)``), ``ops.flatten(x, 1)`` before a classifier, and
the option-A shortcut's subsampling slice and zero padding (``x[:, :, ::2, ::2]``, ``ops.pad``). Each
entry of ``FUNCTIONS`` receives the ``Call`` (the operation's arguments by name, its result) and returns
the name of the value it computes. Shapes come from the result the trace computed, so a reshape, a squeeze
and a flatten are all one ONNX Reshape to the observed shape (with the batch dimension kept symbolic).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ember.autograd import Tensor
from ember.onnx.trace import Call

INT64_MIN = -(2**63)


def operand(call: Call, item: Any, result: Tensor) -> str:
    """A traced value's name; a constant in the result's type (a parameter keeps its key)."""
    tracer = call.tracer
    if tracer.known(item) or (isinstance(item, Tensor) and item.dtype == result.dtype):
        return call.value(item)
    array = item.array if isinstance(item, Tensor) else item
    return call.constant(array, result.dtype)


def check_broadcast(call: Call, operands: list[Any]) -> None:
    """With a symbolic batch, the batch stays dimension 0: no constant may have a batch of its own."""
    result = call.output
    for item in operands:
        if call.tracer.known(item) and item.ndim < result.ndim:
            call.batch_fixed(f"broadcasting a {item.ndim}-d value to {result.ndim} dimensions")
        constant = isinstance(item, Tensor) and not call.tracer.known(item)
        if constant and item.ndim == result.ndim and item.shape[0] != 1:
            call.batch_fixed(f"a constant of shape {tuple(item.shape)} (its own batch dimension)")


def binary(op_type: str) -> Callable[[Call], str]:
    def convert(call: Call) -> str:
        a, b = call.arguments["a"], call.arguments["b"]
        check_broadcast(call, [a, b])
        return call.node(op_type, [operand(call, a, call.output), operand(call, b, call.output)])

    return convert


def unary(op_type: str, argument: str = "x") -> Callable[[Call], str]:
    def convert(call: Call) -> str:
        return call.node(op_type, [call.value(call.arguments[argument])])

    return convert


def round_(call: Call) -> str:
    """``round`` halves to even, as ONNX's Round; to decimals it would need a scale, which is refused."""
    if call.arguments.get("decimals", 0):
        raise call.fail("round with decimals; ONNX's Round rounds to integers (scale by 10^d around it)")
    return call.node("Round", [call.value(call.arguments["x"])])


def alias(argument: str) -> Callable[[Call], str]:
    """An operation that changes nothing in a float32 graph (``clone``, ``.float()``)."""

    def convert(call: Call) -> str:
        if call.output.dtype != np.float32:
            raise call.fail(f"a conversion to {call.output.dtype}; Ember exports float32 models")
        return call.value(call.arguments[argument])

    return convert


def axis(call: Call, dim: int, ndim: int) -> int:
    normalized = dim % ndim
    if normalized == 0:
        call.batch_fixed(f"an operation along dimension {dim}")
    return normalized


def clamp(call: Call) -> str:
    x = call.arguments["x"]
    bounds = [call.arguments["min"], call.arguments["max"]]
    names = ["" if bound is None else operand(call, bound, call.output) for bound in bounds]
    return call.node("Clip", [call.value(x), *names])


def concatenate(call: Call) -> str:
    tensors = list(call.arguments["tensors"])
    ndim = call.output.ndim
    if any(not call.tracer.known(t) for t in tensors):
        call.batch_fixed("a concatenation with a constant")
    return call.node("Concat", [call.value(t) for t in tensors], axis=axis(call, call.arguments["dim"], ndim))


def stack(call: Call) -> str:
    dim = call.arguments["dim"] % call.output.ndim
    unsqueezed = []
    for tensor in call.arguments["tensors"]:
        unsqueezed.append(call.node("Unsqueeze", [call.value(tensor), call.int64([dim])]))
    return call.node("Concat", unsqueezed, axis=axis(call, dim, call.output.ndim))


def reshape(call: Call) -> str:
    x = call.arguments["x"]
    return call.reshape(call.value(x), tuple(call.output.shape), tuple(x.shape))


def flatten(call: Call) -> str:
    x = call.arguments["x"]
    start, end = call.arguments["start_dim"] % max(x.ndim, 1), call.arguments["end_dim"] % max(x.ndim, 1)
    if x.ndim >= 2 and start == 1 and end == x.ndim - 1:
        return call.node("Flatten", [call.value(x)], axis=1)
    return reshape(call)


def reduction(op_type: str) -> Callable[[Call], str]:
    def convert(call: Call) -> str:
        x, dim = call.arguments["x"], call.arguments["dim"]
        dims = range(x.ndim) if dim is None else (dim if isinstance(dim, tuple | list) else (dim,))
        axes = sorted(int(d) % x.ndim for d in dims)
        return call.reduce(op_type, call.value(x), axes, bool(call.arguments["keepdim"]))

    return convert


def softmax(op_type: str) -> Callable[[Call], str]:
    def convert(call: Call) -> str:
        x = call.arguments["x"]
        return call.node(op_type, [call.value(x)], axis=axis(call, call.arguments["dim"], x.ndim))

    return convert


def getitem(call: Call) -> str:
    """Basic indexing (ints, slices, None, ...): one Slice, then a Reshape for the ints and Nones."""
    x, index = call.arguments["x"], call.arguments["index"]
    items = list(index) if isinstance(index, tuple) else [index]
    if any(not (isinstance(i, int | np.integer | slice) or i is None or i is Ellipsis) for i in items):
        raise call.fail("indexing with tensors, lists or masks cannot be exported (only ints and slices)")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
        items[at : at + 1] = [slice(None)] * (x.ndim - consumed)
    cuts: list[tuple[int, int, int, int, int]] = []  # (axis, start, stop, step, size) of the cut axes
    dim = 0
    for item in items:
        if item is None:
            continue
        size = x.shape[dim]
        if isinstance(item, slice):
            start, stop, step = item.indices(size)
            if (start, stop, step) != (0, size, 1):
                kept = len(range(start, stop, step))
                cuts.append((dim, start, INT64_MIN if step < 0 and stop < 0 else stop, step, kept))
        else:
            position = int(item) % size
            cuts.append((dim, position, position + 1, 1, 1))
        dim += 1
    if any(cut[0] == 0 for cut in cuts):
        call.batch_fixed("indexing the batch dimension")
    name = call.value(x)
    sliced = list(x.shape)
    if cuts:
        axes, starts, stops, steps, sizes = (list(values) for values in zip(*cuts, strict=True))
        inputs = [name, call.int64(starts), call.int64(stops), call.int64(axes), call.int64(steps)]
        name = call.node("Slice", inputs)
        for axis, length in zip(axes, sizes, strict=True):
            sliced[axis] = length
    if tuple(sliced) != tuple(call.output.shape):
        name = call.reshape(name, tuple(call.output.shape), tuple(sliced))
    return name


def pad(call: Call) -> str:
    x, widths = call.arguments["x"], list(call.arguments["pad"])
    begins, ends = [0] * x.ndim, [0] * x.ndim
    for i in range(len(widths) // 2):
        begins[x.ndim - 1 - i], ends[x.ndim - 1 - i] = int(widths[2 * i]), int(widths[2 * i + 1])
    if begins[0] or ends[0]:
        call.batch_fixed("padding the batch dimension")
    value = call.constant(call.arguments["value"], call.output.dtype)
    return call.node("Pad", [call.value(x), call.int64(begins + ends), value], mode="constant")


def affine(call: Call, x: Any, weight: str, bias: str | None) -> str:
    """x W^T + b: one Gemm for a batch of vectors, MatMul (and Add) for more dimensions."""
    if x.ndim == 2:
        return call.node("Gemm", [call.value(x), weight, *([bias] if bias else [])], transB=1)
    transposed = call.node("Transpose", [weight], perm=[1, 0])
    product = call.node("MatMul", [call.value(x), transposed])
    return call.node("Add", [product, bias]) if bias else product


def linear(call: Call) -> str:
    x, weight, bias = call.arguments["x"], call.arguments["weight"], call.arguments["bias"]
    return affine(call, x, call.value(weight), None if bias is None else call.value(bias))


def matmul(call: Call) -> str:
    a, b = call.arguments["a"], call.arguments["b"]
    if not call.tracer.known(a) or a.ndim < 2:
        call.batch_fixed("a product whose first factor is not a batch of rows")
    return call.node("MatMul", [operand(call, a, call.output), operand(call, b, call.output)])


def permute(call: Call) -> str:
    x = call.arguments["x"]
    if "dims" in call.arguments:
        perm = [int(d) % x.ndim for d in call.arguments["dims"]]
    else:
        perm = list(range(x.ndim))
        a, b = call.arguments["dim0"] % x.ndim, call.arguments["dim1"] % x.ndim
        perm[a], perm[b] = perm[b], perm[a]
    if perm[0] != 0:
        call.batch_fixed(f"a permutation {tuple(perm)} that moves the batch dimension")
    return call.node("Transpose", [call.value(x)], perm=perm)


FUNCTIONS: dict[str, Callable[[Call], str]] = {
    "add": binary("Add"),
    "sub": binary("Sub"),
    "mul": binary("Mul"),
    "div": binary("Div"),
    "pow": binary("Pow"),
    "maximum": binary("Max"),
    "minimum": binary("Min"),
    "neg": unary("Neg", "a"),
    "exp": unary("Exp"),
    "log": unary("Log"),
    "sqrt": unary("Sqrt"),
    "abs": unary("Abs"),
    "sign": unary("Sign"),
    "sigmoid": unary("Sigmoid"),
    "tanh": unary("Tanh"),
    "relu": unary("Relu"),
    "floor": unary("Floor"),
    "ceil": unary("Ceil"),
    "round": round_,
    "clamp": clamp,
    "clip": clamp,
    "clone": alias("a"),
    "to_dtype": alias("a"),
    "cat": concatenate,
    "concat": concatenate,
    "concatenate": concatenate,
    "stack": stack,
    "reshape": reshape,
    "view": reshape,
    "squeeze": reshape,
    "unsqueeze": reshape,
    "flatten": flatten,
    "mean": reduction("ReduceMean"),
    "sum": reduction("ReduceSum"),
    "amax": reduction("ReduceMax"),
    "amin": reduction("ReduceMin"),
    "softmax": softmax("Softmax"),
    "log_softmax": softmax("LogSoftmax"),
    "getitem": getitem,
    "pad": pad,
    "linear": linear,
    "matmul": matmul,
    "mm": matmul,
    "permute": permute,
    "transpose": permute,
}
