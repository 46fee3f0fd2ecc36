"""Module hooks: code that watches (or changes) what flows through a layer, forward and backward.

``RemovableHandle`` is what every ``register_*_hook`` returns (``handle.remove()``, as
``torch.utils.hooks.RemovableHandle``; calling the handle also removes it, and ``with handle:`` removes it
at the end of the block).

``BackwardHook`` gives ``Module.register_full_backward_hook`` PyTorch's semantics: ``hook(module,
grad_input, grad_output)`` receives the gradients of the loss with respect to the module's positional
inputs and outputs (the lecture's upstream and downstream gradients of one "gate", here a whole layer).
Like PyTorch it wraps each input and each output in an identity node of the graph, so the gradients seen
are exactly those that flow through this call of the module (not the sum over other uses of the same
tensor). The output's node records ``grad_output`` (and runs the backward pre-hooks, ``hook(module,
grad_output)``); the input's node, reached after every node inside the module, calls the hooks with both.
A hook may return replacements (a tuple with one entry per input, or per output for a pre-hook); that is
supported for modules with one tensor input (one output for pre-hooks), the case of every layer in
``ember.nn``; with several, each gradient node is visited on its own and the first ones are gone by the time
the last arrives, so a replacement there is refused with a message instead of being applied to some.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ember.autograd import Function, Tensor

_ids = itertools.count()


class RemovableHandle:
    """Removes the hook it was returned for: ``handle.remove()`` (or ``handle()``, or ``with handle:``)."""

    def __init__(self, hooks: OrderedDict[int, Any]) -> None:
        self.hooks = hooks
        self.id = next(_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    __call__ = remove

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


def add_hook(
    hooks: OrderedDict[int, Any], hook: Callable[..., Any], prepend: bool = False
) -> RemovableHandle:
    """Register ``hook`` in ``hooks`` (last, or first with ``prepend``) under a fresh id."""
    if not callable(hook):
        raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


class _HookNode(Function):
    """Identity on one input or output of a hooked module; its backward hands the gradient to the hooks.

    It copies the values: a layer that works in place (``ReLU(inplace=True)``) then changes the copy, not an
    array another node saved for its backward (PyTorch refuses in-place changes there; Ember allows them).
    """

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *, state: BackwardHook, position: int, output: bool) -> np.ndarray:
        ctx.state, ctx.position, ctx.output = state, position, output
        return np.array(x, copy=True)

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> np.ndarray:
        if ctx.output:
            return ctx.state.output_gradient(ctx.position, grad)
        return ctx.state.input_gradient(ctx.position, grad)


def _tensor(array: np.ndarray | None) -> Tensor | None:
    return None if array is None else Tensor(array)


def _array(value: Any, like: np.ndarray) -> np.ndarray:
    """A hook's replacement gradient as an array of the original's shape (None: no gradient, zeros)."""
    if value is None:
        return np.zeros_like(like)
    array = np.array(value.array if isinstance(value, Tensor) else value, dtype=like.dtype)  # a copy
    if array.shape != like.shape:
        raise RuntimeError(
            f"backward hook returned a gradient of shape {array.shape} where {like.shape} was expected"
        )
    return array


class BackwardHook:
    """One call of a module with backward hooks: wraps its inputs and outputs and runs the hooks."""

    def __init__(
        self, module: Any, hooks: Sequence[Callable[..., Any]], pre_hooks: Sequence[Callable[..., Any]]
    ):
        self.module, self.hooks, self.pre_hooks = module, list(hooks), list(pre_hooks)
        self.input_count = 0
        self.input_positions: list[int] = []  # positional arguments that are tensors requiring grad
        self.constant_inputs: list[tuple[int, np.ndarray]] = []  # tensors that do not: zero gradients
        self.output_count = 0
        self.output_positions: list[int] = []
        self.grad_inputs: list[np.ndarray | None] = []
        self.grad_outputs: list[np.ndarray | None] = []
        self.outputs_seen = 0
        self.inputs_seen = 0

    # ----------------------------------------------------------------------------------------------
    # Forward: wrapping
    def wrap_inputs(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        self.input_count = len(args)
        self.input_positions = [
            i for i, arg in enumerate(args) if isinstance(arg, Tensor) and arg.requires_grad
        ]
        self.constant_inputs = [
            (i, arg.array) for i, arg in enumerate(args) if isinstance(arg, Tensor) and not arg.requires_grad
        ]
        self.grad_inputs = [None] * len(args)
        return tuple(
            _HookNode.apply(arg, state=self, position=i, output=False) if i in self.input_positions else arg
            for i, arg in enumerate(args)
        )

    def wrap_outputs(self, output: Any) -> Any:
        single = isinstance(output, Tensor)
        outputs = [output] if single else list(output) if isinstance(output, tuple | list) else None
        if outputs is None:
            return output
        self.output_count = len(outputs)
        self.output_positions = [
            i for i, out in enumerate(outputs) if isinstance(out, Tensor) and out.requires_grad
        ]
        self.grad_outputs = [None] * len(outputs)
        wrapped = [
            _HookNode.apply(out, state=self, position=i, output=True) if i in self.output_positions else out
            for i, out in enumerate(outputs)
        ]
        if single:
            return wrapped[0]
        return type(output)(wrapped) if isinstance(output, list) else tuple(wrapped)

    # ----------------------------------------------------------------------------------------------
    # Backward: the hooks
    def output_gradient(self, position: int, grad: np.ndarray) -> np.ndarray:
        self.grad_outputs[position] = grad
        self.outputs_seen += 1
        self.inputs_seen = 0
        if self.outputs_seen < len(self.output_positions):
            return grad
        self.outputs_seen = 0
        for hook in self.pre_hooks:
            replaced = hook(self.module, tuple(map(_tensor, self.grad_outputs)))
            if replaced is not None:
                self._check_replaceable(replaced, self.output_positions, "grad_output")
                self.grad_outputs = [
                    _array(value, old) if old is not None else None
                    for value, old in zip(replaced, self.grad_outputs, strict=True)
                ]
        if not self.input_positions:  # nothing flows further back (e.g. the first layer): call the hooks now
            self._call_hooks()
        out = self.grad_outputs[position]
        return grad if out is grad else np.array(out)  # a replacement is handed over as a copy of its own

    def input_gradient(self, position: int, grad: np.ndarray) -> np.ndarray:
        self.grad_inputs[position] = grad
        self.inputs_seen += 1
        if self.inputs_seen < len(self.input_positions):
            return grad
        self.inputs_seen = self.outputs_seen = 0
        for i, array in self.constant_inputs:  # as PyTorch: zeros for the tensors that do not require grad
            self.grad_inputs[i] = np.zeros_like(array)
        replaced = self._call_hooks()
        return np.array(self.grad_inputs[position]) if replaced else grad

    def _call_hooks(self) -> bool:
        replaced_any = False
        for hook in self.hooks:
            replaced = hook(
                self.module, tuple(map(_tensor, self.grad_inputs)), tuple(map(_tensor, self.grad_outputs))
            )
            if replaced is None:
                continue
            self._check_replaceable(replaced, self.input_positions, "grad_input")
            self.grad_inputs = [
                _array(value, old) if old is not None else None
                for value, old in zip(replaced, self.grad_inputs, strict=True)
            ]
            replaced_any = True
        return replaced_any

    def _check_replaceable(self, replaced: Any, positions: list[int], name: str) -> None:
        expected = len(self.grad_inputs if name == "grad_input" else self.grad_outputs)
        if not isinstance(replaced, tuple | list) or len(replaced) != expected:
            raise RuntimeError(
                f"backward hook of {type(self.module).__name__} returned {type(replaced).__name__} "
                f"where a tuple of {expected} gradients ({name}) was expected"
            )
        if len(positions) > 1:
            raise RuntimeError(
                f"backward hook of {type(self.module).__name__}: replacing {name} is supported for modules "
                f"with one tensor {'input' if name == 'grad_input' else 'output'} only (this call has "
                f"{len(positions)}); return None to leave the gradients as they are"
            )
