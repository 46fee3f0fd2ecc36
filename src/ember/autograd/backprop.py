"""Backpropagation's entry points (``backward``, ``grad``) and gradients of gradients (``create_graph``).

``backward`` (and ``Tensor.backward``) adds the gradients into the leaves' ``.grad``; ``grad`` returns the
gradients of chosen tensors instead and leaves ``.grad`` alone (``torch.autograd.grad``). Both walk the
graph with ``ember.autograd.graph.backward``.

Gradients of gradients. Normally the walk runs every backward on NumPy arrays and records nothing, which is
fast. With ``create_graph=True`` the walk is the same but each step is recorded, so the gradients it returns
have a ``grad_fn`` and can be differentiated again, to any order (a Hessian-vector product, a gradient
penalty). A step is recorded in one of two ways, so that no backward is written twice:

- a Function whose backward is written with operations both NumPy arrays and Ember tensors provide
  (``+ - * /``, ``@``, ``.reshape``, and ``ember.ops.dual`` where NumPy and PyTorch spell a function
  differently) declares ``differentiable_backward = True``. The same backward then runs on tensors: the
  upstream gradient is a tensor, and what forward saved comes back as the tensors it came from (the input
  itself, or the output reattached to its node, as PyTorch's saved outputs); arrays it derived from them
  must be constants such as masks. The array path is untouched.
- a fused Function whose backward reuses intermediates or a compiled kernel (cross-entropy, batch norm,
  convolution, pooling) gives ``composite(*args)``: the same function written with Ember operations. Under
  ``create_graph`` its gradient is the recorded gradient of the composite, taken at the node's inputs.

A Function with neither still returns correct first gradients, but they carry a node that raises
``DoubleBackwardError``, naming the op, if anything differentiates through them (PyTorch's
``once_differentiable``): a second derivative is never silently wrong.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ember.autograd import tensor as tensor_module
from ember.autograd.function import Function
from ember.autograd.grad_mode import enable_grad, set_grad_enabled
from ember.autograd.graph import Capture, Context, Edge, call_backward
from ember.autograd.graph import backward as walk
from ember.autograd.tensor import Tensor
from ember.errors import EmberError


class DoubleBackwardError(EmberError, RuntimeError):
    """A gradient was differentiated through an operation whose backward cannot be differentiated."""


def backward(
    tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None, create_graph: bool = False
) -> None:
    """Add d tensors / d leaf (times ``grad_tensors``) into every leaf's ``.grad`` (one walk for all)."""
    roots = _roots("backward", tensors, grad_tensors, create_graph)
    _run(roots, create_graph if retain_graph is None else retain_graph, create_graph, None)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` (weighted by ``grad_outputs``) with respect to each of ``inputs``,
    as ``torch.autograd.grad``; ``.grad`` is not touched. With ``create_graph=True`` they can be
    differentiated again. An input the outputs do not depend on is an error, or ``None`` with
    ``allow_unused=True``."""
    inputs = _as_tuple(inputs)
    for position, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise RuntimeError(
                f"grad: input {position} does not require grad; every input must be a tensor created with "
                "requires_grad=True (or computed from one)"
            )
    roots = _roots("grad", outputs, grad_outputs, create_graph)
    capture = Capture(inputs)
    _run(roots, create_graph if retain_graph is None else retain_graph, create_graph, capture)
    results: list[Tensor | None] = []
    for position, (value, owned) in enumerate(zip(capture.grads, capture.owned, strict=True)):
        if value is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {position} was not used to compute the outputs, so it has no gradient; pass "
                "allow_unused=True to get None for it"
            )
        results.append(_as_gradient(value, owned))
    return tuple(results)


def _as_tuple(values: Any) -> tuple[Any, ...]:
    return (values,) if isinstance(values, Tensor) or values is None else tuple(values)


def _roots(caller: str, tensors: Any, gradients: Any, create_graph: bool) -> list[tuple[Tensor, Any]]:
    """Each output with its upstream gradient: an array, or a tensor if the backward pass is recorded."""
    if isinstance(tensors, Tensor):
        tensors, gradients = (tensors,), (gradients,)
    tensors = tuple(tensors)
    gradients = (None,) * len(tensors) if gradients is None else _as_tuple(gradients)
    if len(gradients) != len(tensors):
        raise RuntimeError(f"{caller}: {len(gradients)} gradients given for {len(tensors)} outputs")
    roots = []
    for position, (output, gradient) in enumerate(zip(tensors, gradients, strict=True)):
        which = "the output" if len(tensors) == 1 else f"output {position}"
        if not isinstance(output, Tensor) or not output.requires_grad:
            raise RuntimeError(
                f"{caller}: {which} does not require grad and has no grad_fn; nothing to "
                "differentiate. Create the inputs with requires_grad=True (and not under no_grad())."
            )
        if gradient is None:
            if output.array.size != 1:
                raise RuntimeError(
                    f"{caller}: grad can be implicitly created only for scalar outputs, but {which} has "
                    f"shape {tuple(output.shape)}; pass gradient= (the upstream gradient, same shape)."
                )
            root: Any = np.ones_like(output.array)
        elif create_graph and isinstance(gradient, Tensor):
            root = gradient  # differentiable with respect to the upstream gradient too
        else:
            root = np.asarray(
                gradient.array if isinstance(gradient, Tensor) else gradient, dtype=output.dtype
            )
        if root.shape != output.shape:
            raise RuntimeError(
                f"{caller}: gradient has shape {tuple(root.shape)} but {which} has shape "
                f"{tuple(output.shape)}; they must match."
            )
        if create_graph and not isinstance(root, Tensor):
            root = Tensor._from_op(root, None)
        roots.append((output, root))
    return roots


def _run(roots: list[tuple[Tensor, Any]], retain_graph: bool, create_graph: bool, capture: Any) -> None:
    nodes: dict[Context, Any] = {}
    for output, root in roots:
        node = output.grad_fn
        if node is None:  # the output is a leaf itself
            if capture is None:
                output._accumulate_grad(root, owned=False)
            elif id(output) in capture.leaves:
                capture.take(capture.leaves[id(output)], root, False)
        else:
            nodes[node] = nodes[node] + root if node in nodes else root
    if not nodes:
        return
    if not create_graph:
        walk(nodes, retain_graph, call_backward, capture)
        return
    with set_grad_enabled(True):
        walk(nodes, retain_graph, recorded_backward, capture)


def _as_gradient(value: Any, owned: bool) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor._from_op(value if owned else np.array(value), None)


def recorded_backward(node: Context, upstream: Tensor) -> tuple[Any, ...]:
    """One step of the recorded walk: ``node``'s gradients as tensors with a graph (module docstring)."""
    function = node.function
    if getattr(function, "differentiable_backward", False):
        saved, inputs = node._saved, node.inputs
        node._saved, node.inputs = _saved_as_tensors(node), _inputs_as_tensors(node)
        try:
            grads = function.backward(node, upstream)
        finally:
            node._saved, node.inputs = saved, inputs
        grads = grads if type(grads) is tuple else (grads,)
        for position, value in enumerate(grads):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"{node.function.__name__}.backward returned a {type(value).__name__} for input "
                    f"{position} when run on tensors (create_graph=True); a differentiable backward must "
                    "compute on the tensors it is given, or the gradient of the gradient would be lost"
                )
        return grads
    if getattr(function, "composite", None) is not None:
        return _composite_gradients(node, upstream)
    return _refusing_second_order(node, upstream)


def _saved_as_tensors(node: Context) -> tuple[Any, ...]:
    """What forward saved, with the inputs and the output as tensors (the output reattached to ``node``)."""
    values = list(node._saved)
    for _counter, _version, position, slot in node._saved_versions:
        values[slot] = Tensor._from_op(values[slot], node) if position < 0 else node.inputs[position]
    return tuple(values)


def _inputs_as_tensors(node: Context) -> tuple[Any, ...]:
    """The node's inputs with each ``Edge`` (an input whose values were not kept) as a stand-in tensor:
    linked to the node that made the input, so a recorded backward can connect to it (``masked_by``,
    ``OnceDifferentiable``), and NaN (zero for integers), read-only, so that reading its values shows."""
    return tuple([_stand_in(x) if type(x) is Edge else x for x in node.inputs])


def _stand_in(edge: Edge) -> Tensor:
    fill = np.array(np.nan if edge.dtype.kind in "fc" else 0, dtype=edge.dtype)
    return Tensor._from_op(np.broadcast_to(fill, edge.shape), edge.grad_fn)


def _composite_gradients(node: Context, upstream: Tensor) -> tuple[Any, ...]:
    """The gradients of the node's ``composite`` (the same function in Ember ops), at the node's inputs."""
    wanted = [i for i, needs in enumerate(node.needs_input_grad) if needs]
    output = node.function.composite(*node.inputs)
    if output is NotImplemented:  # not for these arguments (e.g. an option without a composite form)
        return _refusing_second_order(node, upstream)
    capture = Capture([node.inputs[i] for i in wanted], beyond=False)
    if output.grad_fn is not None:
        walk({output.grad_fn: upstream}, True, recorded_backward, capture)
    grads: list[Any] = [None] * len(node.inputs)
    for i, value in zip(wanted, capture.grads, strict=True):
        grads[i] = _as_gradient(value, False)
    return tuple(grads)


class OnceDifferentiable(Function):
    """Carries a gradient computed on arrays by an op that cannot be differentiated twice (its name in
    ``op``); differentiating through it raises ``DoubleBackwardError``."""

    @staticmethod
    def forward(ctx: Context, gradient: np.ndarray, op: str, *sources: Any) -> np.ndarray:
        ctx.op = op
        return gradient

    @staticmethod
    def backward(ctx: Context, grad: Any) -> Any:
        raise DoubleBackwardError(
            f"{ctx.op}: its backward is computed on arrays (not with differentiable operations), so the "
            f"gradient of a gradient that passes through {ctx.op} cannot be computed. Use an operation that "
            "supports double backward (docs/autograd.md lists them), or detach() this part of the graph."
        )


def _refusing_second_order(node: Context, upstream: Tensor) -> tuple[Any, ...]:
    """The first gradients, from the array backward, marked so that a second differentiation raises."""
    grads = call_backward(node, upstream.array)
    inputs = _inputs_as_tensors(node)
    sources = [upstream, *(x for x in inputs if isinstance(x, Tensor) and x.requires_grad)]
    op = node.function.__name__
    with enable_grad():
        return tuple(
            None if g is None else OnceDifferentiable.apply(np.array(g), op, *sources) for g in grads
        )


tensor_module.bind_backprop(sys.modules[__name__])
