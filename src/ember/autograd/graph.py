"""The computational graph: its nodes (``Context``), and the walk backward from an output.

Backpropagation as the course draws it: order the nodes so that each comes before the nodes that produced
its inputs (a reverse topological order, found iteratively so that a chain of any length works), then visit
them once each, turning the upstream gradient into downstream gradients. Where a value feeds several
operations its gradients are summed (the "copy gate" is a gradient adder); leaves accumulate into ``.grad``.

The walk works on arrays and nodes only (on tensors when the backward pass is itself recorded, for
gradients of gradients: ``ember.autograd.backprop`` passes the step that records); a leaf tensor takes its
gradient through ``Tensor._accumulate_grad`` (``ember.autograd.tensor``), the one thing it asks of a tensor.

Ownership of gradient arrays. A leaf keeps the first gradient it receives as its ``.grad`` and adds later
ones into it in place (``.grad`` accumulates until zeroed, as in PyTorch). So the walk lets a leaf keep an
array without copying it only if nothing else can see it, which it decides from what it knows, never from
reference counts: an array that ``Function.backward`` returned is *handed over* if it owns its memory (it is
not a view), is not the upstream gradient that backward received, was returned for one input only, and is
not held by the node (saved for backward, or an attribute of ``ctx``). Every other array (the upstream
gradient passed through, a view, an array shared by two inputs or kept on ``ctx``, the caller's
``gradient=``, an array a hook saw or returned) is copied before a leaf keeps it. The one thing the walk
cannot see is an array a Function keeps outside ``ctx`` (a cache, a global); ``Function`` forbids that.

What a node keeps of its inputs (``Context.inputs``). A node needs an input's *values* only where its
backward reads them, and those it saves (``save_for_backward``); to pass a gradient on it needs only where
the gradient goes. So, as PyTorch's edges, a node keeps an input tensor itself only where forward saved it,
where it is a leaf that receives a gradient (``.grad``), or where the Function has a ``composite`` (its
gradient of gradients recomputes from the inputs); every other input is an ``Edge`` (the node that made it,
its shape and dtype), so an activation no backward reads (ReLU's input, a residual sum) is freed as soon as
the forward pass moves on. Once backward has passed a node, its inputs are edges too (``Context.release``).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

GradHook = Callable[[np.ndarray], np.ndarray]  # on the gradient array; returns it, or its replacement


class VersionCounter:
    """Counts in-place changes of a tensor's storage (shared by views of the same storage)."""

    __slots__ = ("shared", "value")

    def __init__(self) -> None:
        self.value = 0
        self.shared = False


class Edge:
    """An input whose values the node does not keep: the node that made it (``None`` for a leaf that takes
    no gradient), whether it requires grad, its shape and dtype (the module docstring)."""

    __slots__ = ("dtype", "grad_fn", "requires_grad", "shape")

    def __init__(self, tensor: Any) -> None:
        self.grad_fn = tensor.grad_fn
        self.requires_grad = tensor._requires_grad
        self.shape = tensor._array.shape
        self.dtype = tensor._array.dtype

    def __repr__(self) -> str:
        return f"Edge(shape={self.shape}, dtype={self.dtype}, grad_fn={self.grad_fn!r})"


def link(value: Any, keep: bool = False) -> Any:
    """What a node keeps of one input: a tensor as an ``Edge``, unless ``keep`` or it is a leaf that takes a
    gradient; any other value (an option, an Edge) as it is."""
    if keep or not hasattr(value, "_accumulate_grad"):  # not a tensor (the walk's one call into a tensor)
        return value
    if value.grad_fn is None and value._requires_grad:
        return value
    return Edge(value)


class Context:
    """A node of the computational graph: one application of a ``Function`` to its inputs."""

    # Defaults as class attributes: recording a node sets only what that node has (the hot path).
    _saved: tuple[Any, ...] = ()
    _saved_versions: tuple[tuple[VersionCounter, int, int, int], ...] = ()  # and the saved slot
    released = False
    hooks: list[GradHook] | None = None
    retained_output: Any = None  # a weak reference to the output tensor, if it retains its grad

    def __init__(self, function: type[Any], inputs: tuple[Any, ...], needs_input_grad: tuple[bool, ...]):
        self.function = function
        self.inputs = inputs
        self.needs_input_grad = needs_input_grad

    if TYPE_CHECKING:  # a Function keeps its own values on ctx as plain attributes (ctx.axis = ...)

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def name(self) -> str:
        """PyTorch's name of the node: ``MulBackward0`` for the node that ``Mul`` recorded."""
        return f"{self.function.__name__}Backward0"

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """One ``(node, 0)`` per tensor input, as PyTorch: the node that made it, an ``AccumulateGrad`` for
        a leaf that requires grad, ``None`` for a tensor that needs no gradient."""
        return tuple(
            (_next_node(tensor) if needed else None, 0)
            for tensor, needed in zip(self.inputs, self.needs_input_grad)  # noqa: B905 - same length
            if hasattr(tensor, "grad_fn")
        )

    def save_for_backward(self, *values: Any) -> None:
        """Keep arrays (or anything) that backward needs; freed after backward unless retain_graph."""
        self._saved = values

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        if self.released:
            raise RuntimeError(
                f"{self.function.__name__}: trying to backward through the graph a second time (or to read "
                "saved values after they were freed). Saved intermediate values are freed when you call "
                ".backward(); pass retain_graph=True to the first backward if you need a second one."
            )
        return self._saved

    def release(self) -> None:
        """Free what forward saved (arrays kept on ctx included, inputs as edges); keep only what a second
        walk reads."""
        function, needs = self.function, self.needs_input_grad
        inputs = tuple([link(value) for value in self.inputs])
        self.__dict__.clear()
        self.function, self.inputs, self.needs_input_grad, self.released = function, inputs, needs, True

    def check_versions(self) -> None:
        """Raise if a tensor saved for backward was changed in place after it was saved."""
        for counter, saved_at, position, _slot in self._saved_versions:
            if counter.value != saved_at:
                which = "its output" if position < 0 else f"input {position}"
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an "
                    f"in-place operation: {which} of {self.function.__name__} is at version {counter.value}, "
                    f"expected version {saved_at}. Use an out-of-place operation (e.g. x = x + 1 instead of "
                    "x += 1), or .clone() the tensor before changing it."
                )

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"


class AccumulateGrad:
    """What PyTorch's graph shows for a leaf that requires grad: the node that accumulates into
    ``variable.grad`` (``grad_fn.next_functions``). Ember's walk accumulates without it."""

    next_functions: tuple[tuple[Any, int], ...] = ()

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


def _next_node(tensor: Any) -> Any:
    return tensor.grad_fn if tensor.grad_fn is not None else AccumulateGrad(tensor)


def topological_order(roots: Iterable[Context], stop: Container[Context] = ()) -> list[Context]:
    """Nodes reachable from ``roots``, each before every node that produced one of its inputs (the walk
    goes no further up than a node in ``stop``)."""
    order: list[Context] = []
    visited: set[Context] = set()
    stack: list[tuple[Context, bool]] = [(root, False) for root in roots]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        if node in stop:
            continue
        for parent, needed in zip(node.inputs, node.needs_input_grad):  # noqa: B905 - same length
            # An input that needs a gradient is a tensor that requires grad; others lead nowhere.
            producer = parent.grad_fn if needed else None
            if producer is not None and producer not in visited:
                stack.append((producer, False))
    order.reverse()
    return order


def call_backward(node: Context, grad: np.ndarray) -> tuple[Any, ...]:
    """One step of the ordinary walk: ``node``'s backward on arrays, its gradients as a tuple."""
    grads = node.function.backward(node, grad)
    return grads if type(grads) is tuple else (grads,)


class Capture:
    """The gradients ``autograd.grad`` asks for (of leaves or not), kept here instead of in ``.grad``.

    Only the nodes on a path to a captured tensor run. With ``beyond=False`` the walk stops at the
    captured tensors (for a gradient with respect to a function's own inputs, taken as independent).
    """

    def __init__(self, tensors: Sequence[Any], beyond: bool = True) -> None:
        self.leaves: dict[int, int] = {}
        self.nodes: dict[Context, int] = {}
        for slot, tensor in enumerate(tensors):
            if tensor.grad_fn is None:
                self.leaves.setdefault(id(tensor), slot)
            else:
                self.nodes.setdefault(tensor.grad_fn, slot)
        self.beyond = beyond
        self.grads: list[Any] = [None] * len(tensors)
        self.owned = [False] * len(tensors)

    def take(self, slot: int, grad: Any, owned: bool) -> None:
        if self.grads[slot] is None:
            self.grads[slot], self.owned[slot] = grad, owned
        else:
            self.grads[slot], self.owned[slot] = self.grads[slot] + grad, True

    def needed(self, order: list[Context]) -> set[Context]:
        """The nodes of ``order`` whose backward leads to a captured tensor."""
        needed: set[Context] = set()
        for node in reversed(order):  # producers first
            if not self.beyond and node in self.nodes:
                continue
            for parent, needs in zip(node.inputs, node.needs_input_grad):  # noqa: B905 - same length
                producer = parent.grad_fn if needs else None
                if needs and (producer in needed or producer in self.nodes or id(parent) in self.leaves):
                    needed.add(node)
                    break
        return needed


def backward(
    roots: dict[Context, Any],
    retain_graph: bool = False,
    call: Callable[[Context, Any], tuple[Any, ...]] = call_backward,
    capture: Capture | None = None,
) -> None:
    """Push each root's gradient (d output / d output of that node) through the graph into the leaves'
    ``.grad``, or into ``capture``. ``call`` runs one node's backward (on arrays; on tensors when the
    backward pass itself is recorded, ``ember.autograd.backprop``); the walk is the same for both."""
    pending: dict[Context, Any] = dict(roots)
    order = topological_order(roots, () if capture is None or capture.beyond else capture.nodes)
    needed = capture.needed(order) if capture is not None else set()
    for node in order:
        upstream = pending.pop(node, None)
        if upstream is None:
            continue  # no gradient flows to this node (e.g. it only feeds integer outputs)
        if node.hooks or node.retained_output is not None:
            upstream = _run_output_hooks(node, upstream)
        if capture is not None:
            if node in capture.nodes:
                capture.take(capture.nodes[node], upstream, False)
            if node not in needed:
                continue
        if node.released:
            node.saved_tensors  # noqa: B018 - raises the "backward a second time" error
        if node._saved_versions:
            node.check_versions()
        input_grads = call(node, upstream)
        needs = node.needs_input_grad
        for position, parent in enumerate(node.inputs):
            if not needs[position]:
                continue
            parent_grad = input_grads[position]
            if parent_grad is None:
                continue
            shape = parent.shape if type(parent) is Edge else parent._array.shape
            if parent_grad.shape != shape:
                raise RuntimeError(
                    f"{node.function.__name__}.backward returned a gradient of shape "
                    f"{tuple(parent_grad.shape)} for input {position}, whose shape is {shape}; "
                    "they must match."
                )
            producer = parent.grad_fn
            if producer is None:
                owned = type(parent_grad) is np.ndarray and handed_over(
                    parent_grad, node, upstream, input_grads
                )
                if capture is None:
                    parent._accumulate_grad(parent_grad, owned)
                elif id(parent) in capture.leaves:
                    capture.take(capture.leaves[id(parent)], parent_grad, owned)
            elif producer in pending:
                pending[producer] = pending[producer] + parent_grad
            else:
                pending[producer] = parent_grad
        if not retain_graph:
            node.release()


def handed_over(array: np.ndarray, node: Context, upstream: np.ndarray, returned: tuple[Any, ...]) -> bool:
    """Whether a leaf may keep ``array``, one of the gradients ``returned`` by ``node``'s backward (which
    received ``upstream``), without copying it: the ownership rule in this module's docstring."""
    if array.base is not None or array is upstream:
        return False
    if sum(other is array for other in returned) != 1:
        return False
    return not any(value is array for value in (*node._saved, *vars(node).values()))


def _run_output_hooks(node: Context, grad: np.ndarray) -> np.ndarray:
    """Hooks registered on a non-leaf tensor see (and may replace) its full gradient; retain_grad keeps it."""
    for hook in node.hooks or ():
        grad = hook(grad)
    retained = node.retained_output() if node.retained_output is not None else None
    if retained is not None:
        retained._accumulate_grad(grad, owned=False, run_hooks=False)
    return grad
