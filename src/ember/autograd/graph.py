"""Reverse-mode automatic differentiation: walk the graph backward from the output.

Backpropagation as the course draws it: order the nodes so that each comes before the nodes that produced
its inputs (a reverse topological order, found iteratively so that a chain of any length works), then visit
them once each, turning the upstream gradient into downstream gradients. Where a value feeds several
operations its gradients are summed (the "copy gate" is a gradient adder); leaves accumulate into ``.grad``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ember.autograd.function import Context


def _count_references_to_a_fresh_array() -> int:
    """References that the backward loop itself holds to a gradient just returned by a Function (the
    tuple of gradients, the loop variable, getrefcount's argument), measured with the loop's own shape."""
    input_grads = (np.empty(1),)
    for position in range(1):
        parent_grad = input_grads[position]
        return sys.getrefcount(parent_grad)
    raise AssertionError("unreachable")


_REFERENCES_TO_A_FRESH_ARRAY = _count_references_to_a_fresh_array()


def topological_order(root: Context) -> list[Context]:
    """Nodes reachable from ``root``, each before every node that produced one of its inputs."""
    order: list[Context] = []
    visited: set[Context] = set()
    stack: list[tuple[Context, bool]] = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for parent in node.inputs:
            if isinstance(parent, Tensor):
                producer = parent.grad_fn
                if producer is not None and producer not in visited:
                    stack.append((producer, False))
    order.reverse()
    return order


def backward(tensor: Tensor, gradient: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(tensor)/d(leaf) into ``.grad`` of every leaf that requires grad."""
    if not tensor.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no grad_fn; nothing to differentiate. "
            "Create the inputs with requires_grad=True (and not under no_grad())."
        )
    if gradient is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs, but the output has "
                f"shape {tuple(tensor.shape)}; pass gradient= (the upstream gradient, same shape)."
            )
        root_grad = np.ones_like(tensor.data)
    else:
        root_grad = np.asarray(getattr(gradient, "data", gradient), dtype=tensor.dtype)
        if root_grad.shape != tensor.shape:
            raise RuntimeError(
                f"backward: gradient has shape {root_grad.shape} but the output has shape "
                f"{tuple(tensor.shape)}; they must match."
            )
    if tensor.grad_fn is None:
        _accumulate_into_leaf(tensor, root_grad)
        return

    pending: dict[Context, np.ndarray] = {tensor.grad_fn: root_grad}
    for node in topological_order(tensor.grad_fn):
        grad = pending.pop(node, None)
        if grad is None:
            continue  # no gradient flows to this node (e.g. it only feeds integer outputs)
        if node.released:
            node.saved_tensors  # noqa: B018 - raises the "backward a second time" error
        if node.hooks or node.retained_output is not None:
            grad = _run_output_hooks(node, grad)
        if node._saved_versions:
            node.check_versions()
        input_grads = node.function.backward(node, grad)
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        for position, parent in enumerate(node.inputs):
            if not node.needs_input_grad[position]:
                continue
            parent_grad = input_grads[position]
            if parent_grad is None:
                continue
            if parent_grad.shape != parent.data.shape:
                raise RuntimeError(
                    f"{node.name}.backward returned a gradient of shape {parent_grad.shape} for input "
                    f"{position}, whose shape is {parent.data.shape}; they must match."
                )
            producer = parent.grad_fn
            if producer is None:
                fresh = (
                    parent_grad.flags.owndata and sys.getrefcount(parent_grad) <= _REFERENCES_TO_A_FRESH_ARRAY
                )
                _accumulate_into_leaf(parent, parent_grad, fresh)
            elif producer in pending:
                pending[producer] = pending[producer] + parent_grad
            else:
                pending[producer] = parent_grad
        if not retain_graph:
            node.release()


def _run_output_hooks(node: Context, grad: np.ndarray) -> np.ndarray:
    """Hooks registered on a non-leaf tensor see (and may replace) its full gradient; retain_grad keeps it."""
    if node.hooks:
        for hook in node.hooks:
            replaced = hook(Tensor._from_op(grad, None))
            if replaced is not None:
                grad = np.asarray(getattr(replaced, "data", replaced))
    retained = node.retained_output() if node.retained_output is not None else None
    if retained is not None:
        _accumulate_into_leaf(retained, grad, fresh=False, run_hooks=False)
    return grad


def _accumulate_into_leaf(
    leaf: Tensor, grad: np.ndarray, fresh: bool = False, run_hooks: bool = True
) -> None:
    """Add ``grad`` into ``leaf.grad``. A ``fresh`` array (made by backward, held by nothing else) is kept
    as it is; any other is copied, since it may also be another tensor's gradient (add passes one array to
    both inputs) or the caller's own array."""
    if run_hooks and leaf._hooks:
        for hook in leaf._hooks:
            replaced = hook(Tensor._from_op(grad, None))
            if replaced is not None:
                grad, fresh = np.asarray(getattr(replaced, "data", replaced)), False
    if leaf.grad is None:
        keep = fresh and grad.dtype == leaf.dtype and grad.flags.writeable
        leaf.grad = Tensor._from_op(grad if keep else np.array(grad, dtype=leaf.dtype, copy=True), None)
    else:
        np.add(leaf.grad.data, grad, out=leaf.grad.data, casting="unsafe")


from ember.tensor import Tensor  # noqa: E402 - the graph holds tensors; tensor.py imports this module lazily
