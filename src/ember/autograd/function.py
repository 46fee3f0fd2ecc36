"""``Function``: one differentiable operation, its forward and its backward side by side.

The course's "modular API": every gate of the computational graph knows how to compute its output from its
inputs (forward) and how to turn the gradient of the loss with respect to its output (the *upstream* gradient)
into gradients with respect to its inputs (the *downstream* gradients, local gradient times upstream, chain
rule). Jacobians are never formed: ``backward`` computes the vector-Jacobian product directly.

Both methods work on NumPy arrays. ``forward(ctx, *inputs, **options)`` receives the arrays of the tensor
arguments (other arguments pass through unchanged) and returns an array; ``backward(ctx, grad)`` returns one
gradient per positional input (``None`` where there is none). Between them, ``ctx`` carries what backward
needs: ``ctx.save_for_backward(*arrays)`` and ``ctx.saved_tensors``, or plain attributes for small values.

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

from typing import TYPE_CHECKING, Any

import numpy as np

from ember.autograd.grad_mode import STATE

if TYPE_CHECKING:
    from ember.tensor import Tensor


class VersionCounter:
    """Counts in-place changes of a tensor's storage (shared by views of the same storage)."""

    __slots__ = ("shared", "value")

    def __init__(self) -> None:
        self.value = 0
        self.shared = False


class Context:
    """A node of the computational graph: one application of a ``Function`` to its inputs."""

    # Defaults as class attributes: recording a node sets only what that node has (the hot path).
    _saved: tuple[Any, ...] = ()
    _saved_versions: tuple[tuple[VersionCounter, int, int], ...] = ()
    released = False
    hooks: list[Any] | None = None
    retained_output: Any = None

    def __init__(self, function: type[Function], inputs: tuple[Any, ...], needs_input_grad: tuple[bool, ...]):
        self.function = function
        self.inputs = inputs
        self.needs_input_grad = needs_input_grad

    if TYPE_CHECKING:  # a Function keeps its own values on ctx as plain attributes (ctx.axis = ...)

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    @property
    def name(self) -> str:
        return self.function.__name__

    def save_for_backward(self, *values: Any) -> None:
        """Keep arrays (or anything) that backward needs; freed after backward unless retain_graph."""
        self._saved = values

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        if self.released:
            raise RuntimeError(
                f"{self.name}: trying to backward through the graph a second time (or to read saved "
                "values after they were freed). Saved intermediate values are freed when you call "
                ".backward(); pass retain_graph=True to the first backward if you need a second one."
            )
        return self._saved

    def release(self) -> None:
        """Free what forward saved (arrays kept on ctx included); keep only what a second walk reads."""
        function, inputs = self.function, self.inputs
        self.__dict__.clear()
        self.function, self.inputs, self.released = function, inputs, True

    def check_versions(self) -> None:
        """Raise if a tensor saved for backward was changed in place after it was saved."""
        for counter, saved_at, position in self._saved_versions:
            if counter.value != saved_at:
                which = "its output" if position < 0 else f"input {position}"
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an "
                    f"in-place operation: {which} of {self.name} is at version {counter.value}, expected "
                    f"version {saved_at}. Use an out-of-place operation (e.g. x = x + 1 instead of "
                    "x += 1), or .clone() the tensor before changing it."
                )

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


class Function:
    """Base class of differentiable operations: subclass it and define ``forward`` and ``backward``."""

    # A Function whose output may be a view of input 0's storage shares that tensor's version counter,
    # so an in-place change through either one is seen by the graph.
    returns_view = False

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
                arrays.append(a.data)
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
            version = args[0]._version
        if not record:
            return Tensor._from_op(out, None, version)
        result = Tensor._from_op(out, ctx, version)
        if ctx._saved:
            ctx._saved_versions = _versions_of_saved(ctx._saved, args, arrays, out, result)
        return result


def _versions_of_saved(
    saved: tuple[Any, ...], args: tuple[Any, ...], arrays: list[Any], out: Any, result: Tensor
) -> tuple[tuple[VersionCounter, int, int], ...]:
    """Which saved arrays belong to an input or to the output tensor, and their versions now."""
    versions = []
    for value in saved:
        if value is None:
            continue
        if value is out:
            versions.append((result._version, 0, -1))
            continue
        for position, array in enumerate(arrays):
            if value is array and isinstance(args[position], Tensor):
                counter = args[position]._version
                versions.append((counter, counter.value, position))
                break
    return tuple(versions)


from ember.tensor import Tensor  # noqa: E402 - Tensor and Function refer to each other
