"""``Function``: one differentiable operation, its forward and its backward side by side.

The course's "modular API": every gate of the computational graph knows how to compute its output from its
inputs (forward) and how to turn the gradient of the loss with respect to its output (the *upstream* gradient)
into gradients with respect to its inputs (the *downstream* gradients, local gradient times upstream, chain
rule). Jacobians are never formed: ``backward`` computes the vector-Jacobian product directly.

Both methods work on NumPy arrays. ``forward(ctx, *inputs, **options)`` receives the arrays of the tensor
arguments (other arguments pass through unchanged) and returns an array; ``backward(ctx, grad)`` returns one
gradient per positional input (``None`` where there is none). Between them, ``ctx`` carries what backward
needs: ``ctx.save_for_backward(*arrays)`` and ``ctx.saved_tensors``, or plain attributes for small values.

The gradients backward returns are handed to the engine, which may keep one as a leaf's ``.grad`` and add
later gradients into it in place. So backward returns a new array per input, or else the upstream ``grad``
itself, a view, one array for several inputs, or an array kept on ``ctx`` (the engine sees these and copies
them; the ownership rule in ``ember.autograd.graph``), but never an array it keeps anywhere else (a cache, a
global).

Example, a user's own operation (``ember.gradcheck`` verifies it)::

    class Cube(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x ** 2

    y = Cube.apply(ember.randn(5, requires_grad=True))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ember.autograd.grad_mode import STATE
from ember.autograd.graph import Context, Edge, VersionCounter
from ember.autograd.tensor import Tensor


class Function:
    """Base class of differentiable operations: subclass it and define ``forward`` and ``backward``."""

    # A Function whose output may be a view of input 0's storage shares that tensor's version counter,
    # so an in-place change through either one is seen by the graph.
    returns_view = False

    # Gradients of gradients (``create_graph=True``, ``ember.autograd.backprop``): either ``backward`` is
    # written with operations that NumPy arrays and Ember tensors both provide, and then also runs on
    # tensors, recording its own graph (``differentiable_backward = True``); or ``composite(*args)``
    # computes the same function from differentiable Ember operations, and its gradient is recorded
    # instead. A Function with neither refuses to be differentiated twice, naming itself.
    differentiable_backward = False
    composite: Callable[..., Any] | None = None

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run forward on the arrays of ``args`` and, if any input requires grad, record the node."""
        arrays = []
        needs = []
        record = False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a._array)
                needs.append(a._requires_grad)
                record = record or a._requires_grad
            else:
                arrays.append(a)
                needs.append(False)
        record = record and STATE.enabled
        ctx = Context(cls, args if record else (), tuple(needs) if record else (False,) * len(args))
        out = cls.forward(ctx, *arrays, **kwargs)
        version = None
        if cls.returns_view and isinstance(args[0], Tensor) and np.may_share_memory(out, arrays[0]):
            version = args[0]._counter()
        if not record:
            return Tensor._from_op(out, None, version)
        result = Tensor._from_op(out, ctx, version)
        kept: Any = ()
        if ctx._saved:
            versions = ctx._saved_versions = _versions_of_saved(ctx._saved, args, arrays, out, result)
            kept = [position for _counter, _value, position, _slot in versions]
        if cls.composite is None:  # inputs no backward reads are kept as edges (ember.autograd.graph)
            inputs = list(args)
            for position, a in enumerate(args):
                edge = isinstance(a, Tensor) and (a.grad_fn is not None or not a._requires_grad)
                if edge and position not in kept:
                    inputs[position] = Edge(a)
            ctx.inputs = tuple(inputs)
        return result


def _versions_of_saved(
    saved: tuple[Any, ...], args: tuple[Any, ...], arrays: list[Any], out: Any, result: Tensor
) -> tuple[tuple[VersionCounter, int, int, int], ...]:
    """Which saved arrays belong to an input (its position) or to the output tensor (-1), their versions
    now, and where each was saved (so that a recorded backward can take the tensors themselves)."""
    versions = []
    for slot, value in enumerate(saved):
        if value is None:
            continue
        if value is out:
            versions.append((result._counter(), 0, -1, slot))
            continue
        for position, array in enumerate(arrays):
            if value is array and isinstance(args[position], Tensor):
                counter = args[position]._counter()
                versions.append((counter, counter.value, position, slot))
                break
    return tuple(versions)
