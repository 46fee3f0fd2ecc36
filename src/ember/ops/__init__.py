"""Differentiable operations on tensors, each a ``Function`` with its forward and backward side by side."""

import sys

from ember.autograd.methods import bind_operations
from ember.ops.arithmetic import (
    add,
    allclose,
    clone,
    div,
    eq,
    equal,
    ge,
    gt,
    le,
    logical_and,
    logical_not,
    logical_or,
    lt,
    mul,
    ne,
    neg,
    pow,
    sub,
    to_dtype,
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
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from ember.ops.elementwise import (
    abs,
    clamp,
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
from ember.ops.linalg import linear, matmul, mm
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
    "abs", "add", "all", "allclose", "amax", "amin", "any", "arange", "argmax", "argmin", "as_tensor",
    "broadcast_to", "cat", "chunk", "clamp", "clip", "clone", "concat", "concatenate", "div", "empty",
    "empty_like", "eq", "equal", "exp", "expand", "eye", "flatten", "flip", "from_numpy", "full", "full_like",
    "gather", "ge", "getitem", "gt", "index_put", "le", "linear", "linspace", "log", "log_softmax",
    "logical_and", "logical_not", "logical_or", "logsumexp", "lt", "masked_fill", "matmul", "max", "maximum",
    "mean", "min", "minimum", "mm", "mul", "ne", "neg", "norm", "ones", "ones_like", "pad", "permute", "pow",
    "rand", "rand_like", "randint", "randn", "randn_like", "randperm", "relu", "repeat", "reshape", "sigmoid",
    "sign", "softmax", "split", "sqrt", "squeeze", "stack", "std", "sub", "sum", "tanh", "tensor", "to_dtype",
    "transpose", "unbind", "unsqueeze", "var", "view", "where", "zeros", "zeros_like",
]  # fmt: skip

# The one place the operations reach into the engine: Tensor's PyTorch methods (x + y, x.sum(), x.add_(y),
# the table in ember/autograd/methods.py) call the operations of this module.
bind_operations(sys.modules[__name__])
