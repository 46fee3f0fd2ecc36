"""Differentiable operations on tensors, each a ``Function`` with its forward and backward side by side."""

import sys

from ember.autograd.methods import bind_operations
from ember.ops.arithmetic import (
    add,
    clone,
    div,
    divide,
    mul,
    multiply,
    neg,
    negative,
    pow,
    sub,
    subtract,
    to_dtype,
    true_divide,
)
from ember.ops.comparison import (
    allclose,
    eq,
    equal,
    ge,
    greater,
    greater_equal,
    gt,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    ne,
    not_equal,
)
from ember.ops.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from ember.ops.elementwise import (
    abs,
    absolute,
    clamp,
    clamp_max,
    clamp_min,
    clip,
    exp,
    log,
    masked_fill,
    maximum,
    minimum,
    relu,
    sigmoid,
    sign,
    sqrt,
    tanh,
    where,
)
from ember.ops.indexing import gather, getitem, index_put
from ember.ops.join import cat, chunk, concat, concatenate, pad, split, stack, unbind
from ember.ops.linalg import bmm, dot, linear, matmul, mm, mv
from ember.ops.pointwise import (
    expm1,
    floor_divide,
    fmod,
    log1p,
    log2,
    log10,
    reciprocal,
    remainder,
    rsqrt,
    square,
)
from ember.ops.reduction import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    max,
    mean,
    min,
    norm,
    std,
    sum,
    var,
)
from ember.ops.shape import (
    broadcast_to,
    expand,
    flatten,
    flip,
    permute,
    repeat,
    reshape,
    squeeze,
    transpose,
    unsqueeze,
    view,
)
from ember.ops.softmax import log_softmax, logsumexp, softmax

__all__ = [
    "abs", "absolute", "add", "all", "allclose", "amax", "amin", "any", "arange", "argmax", "argmin",
    "as_tensor", "bmm", "broadcast_to", "cat", "chunk", "clamp", "clamp_max", "clamp_min", "clip", "clone",
    "concat", "concatenate", "div", "divide", "dot", "empty", "empty_like", "eq", "equal", "exp", "expand",
    "expm1", "eye", "flatten", "flip", "floor_divide", "fmod", "from_numpy", "full", "full_like", "gather",
    "ge", "getitem", "greater", "greater_equal", "gt", "index_put", "isclose", "isfinite", "isinf", "isnan",
    "le", "less", "less_equal", "linear", "linspace", "log", "log1p", "log2", "log10", "log_softmax",
    "logical_and", "logical_not", "logical_or", "logical_xor", "logsumexp", "lt", "masked_fill", "matmul",
    "max", "maximum", "mean", "min", "minimum", "mm", "mul", "multiply", "mv", "ne", "neg", "negative",
    "norm", "not_equal", "ones", "ones_like", "pad", "permute", "pow", "rand", "rand_like", "randint",
    "randint_like", "randn", "randn_like", "randperm", "reciprocal", "relu", "remainder", "repeat", "reshape",
    "rsqrt", "sigmoid", "sign", "softmax", "split", "sqrt", "square", "squeeze", "stack", "std", "sub",
    "subtract", "sum", "tanh", "tensor", "to_dtype", "transpose", "true_divide", "unbind", "unsqueeze", "var",
    "view", "where", "zeros", "zeros_like",
]  # fmt: skip

# The one place the operations reach into the engine: Tensor's PyTorch methods (x + y, x.sum(), x.add_(y),
# the table in ember/autograd/methods.py) call the operations of this module.
bind_operations(sys.modules[__name__])
