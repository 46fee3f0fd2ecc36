"""``ember.summary(model, input_size)``: a model layer by layer, like the lecture's VGG-16 table.

One forward pass (eval mode, no graph, a zero input: the user's random state is untouched) with a forward
hook on every leaf module records, per layer: the output shape, the parameters, the activation memory
(values and bytes) and the multiply-adds; then the totals and the memory estimate per image.

Conventions (every figure is per image: with ``batch_size`` > 1 the totals are divided by it):

- **Activation memory** is what a layer's output adds: its number of values, times the bytes of its dtype
  (4 for float32). A layer whose output shares its input's storage adds nothing and is marked in place:
  ``ReLU(inplace=True)``, ``Dropout`` in eval mode (the identity), ``Flatten`` (a view). This is the
  lecture's convention, where "CONV3-64: [224x224x64]" is the conv and its ReLU together. The input image is
  counted on its own line ("INPUT: [224x224x3] memory: 150K"), and the forward total is input + outputs.
  A tensor made by an operation in ``forward`` (a residual sum, a concatenation) is counted where a layer
  returns it in place (the ReLU after ``F(x) + x``), and not at all if only a layer that copies it sees it.
- **Backward**: the backward pass needs a gradient of the size of each activation, so forward + backward
  is estimated as 2 x the forward activations (the lecture's "only forward! ~*2 for bwd"). Parameters and
  their gradients (and an optimizer's state) come on top, once per model, not per image.
- **Multiply-adds** (one multiply and one add = 1), counting what dominates and ignoring biases:
  Conv2d: output values x (in_channels / groups) x kernel height x kernel width;
  ConvTranspose2d: input values x (out_channels / groups) x kernel area;
  Linear: output values x in_features;
  BatchNorm: 1 per output value (at inference it is one affine map per channel, y = a x + b);
  average pooling: window size per output value (the sum; the division is folded in);
  LocalResponseNorm: ``size`` per output value (the windowed sum of squares);
  max pooling, ReLU and other activations, dropout, reshapes: 0 (comparisons and selections, no products).
  Operations written in a model's ``forward`` rather than as modules (residual additions,
  concatenations, SE's channel scaling) are not layers and are not counted. Convolutions and linear layers
  are also totalled on their own, the figure papers quote (MobileNet's 569M, VGG-16's 15.5G).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ember import nn
from ember.autograd import Tensor, no_grad

MB, MIB = 10**6, 2**20


@dataclass
class LayerSummary:
    """One call of one leaf module; ``activations``, ``activation_bytes`` and ``multiply_adds`` are for the
    whole batch (the table and the totals divide them by ``batch_size``)."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: dict[str, int]
    activations: int
    activation_bytes: int
    multiply_adds: int
    in_place: bool = False

    @property
    def num_parameters(self) -> int:
        return sum(self.parameters.values())


@dataclass
class ModelSummary:
    """The per-layer rows and the totals; ``str()`` gives the table."""

    model_name: str
    input_shape: tuple[int, ...]
    layers: list[LayerSummary]
    total_parameters: int
    trainable_parameters: int
    parameter_bytes: int
    input_values: int
    input_bytes: int
    batch_size: int = 1
    uncalled_parameters: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def activations(self) -> int:
        """Values of all layer outputs that take new memory, per image (the input not included)."""
        return sum(layer.activations for layer in self.layers) // self.batch_size

    @property
    def activation_bytes(self) -> int:
        return sum(layer.activation_bytes for layer in self.layers) // self.batch_size

    @property
    def forward_values(self) -> int:
        """Input + layer outputs per image: the lecture's "TOTAL memory"."""
        return self.input_values // self.batch_size + self.activations

    @property
    def forward_bytes(self) -> int:
        return self.input_bytes // self.batch_size + self.activation_bytes

    @property
    def forward_backward_bytes(self) -> int:
        """About twice the forward activations: each one also gets a gradient in the backward pass."""
        return 2 * self.forward_bytes

    @property
    def output_values(self) -> int:
        """Values of every layer output per image, in-place layers included: what training keeps for the
        backward pass is of this order (an in-place ReLU still saves its mask, dropout its mask)."""
        return sum(math.prod(layer.output_shape[1:]) for layer in self.layers)

    @property
    def largest_output_values(self) -> int:
        """The largest layer output per image (inference holds about a layer's input and output at once)."""
        return max([math.prod(layer.output_shape[1:]) for layer in self.layers], default=0)

    @property
    def largest_parameter(self) -> int:
        """Values of the largest parameter tensor (an optimizer's step makes temporaries of its size)."""
        return max([count for layer in self.layers for count in layer.parameters.values()], default=0)

    @property
    def multiply_adds(self) -> int:
        return sum(layer.multiply_adds for layer in self.layers) // self.batch_size

    @property
    def conv_linear_multiply_adds(self) -> int:
        kinds = ("Conv2d", "ConvTranspose2d", "Linear")
        return sum(layer.multiply_adds for layer in self.layers if layer.kind in kinds) // self.batch_size

    def table(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        header = ("Layer (type)", "Output shape", "Param #", "Activations", "Memory", "Mult-adds")
        per_image = self.input_values // self.batch_size
        rows = [
            ("input", shape, "0", f"{per_image:,}", _short_bytes(self.input_bytes // self.batch_size), "0")
        ]
        for layer in self.layers:
            values = "in place" if layer.in_place else f"{layer.activations // self.batch_size:,}"
            rows.append(
                (
                    f"{layer.name} ({layer.kind})",
                    "x".join(map(str, layer.output_shape[1:])),
                    f"{layer.num_parameters:,}",
                    values,
                    "" if layer.in_place else _short_bytes(layer.activation_bytes // self.batch_size),
                    f"{layer.multiply_adds // self.batch_size:,}",
                )
            )
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        line = "-" * (sum(widths) + 2 * (len(widths) - 1))

        def render(row: tuple[str, ...]) -> str:
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
            cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
            return "  ".join(cells).rstrip()

        lines = [f"{self.model_name}, input {shape} (per image)", line, render(header), line]
        lines += [render(row) for row in rows]
        lines += [line, *self.totals()]
        return "\n".join(lines)

    def totals(self) -> list[str]:
        per_value = self.activation_bytes / max(1, self.activations)
        lines = [
            f"Total params: {self.total_parameters:,} ({self.trainable_parameters:,} trainable), "
            f"{_bytes(self.parameter_bytes)}",
            f"Input: {self.input_values // self.batch_size:,} values; "
            f"layer outputs: {self.activations:,} values (in-place layers add none)",
            f"Forward activations per image: {self.forward_values:,} values x {per_value:g} bytes = "
            f"{_bytes(self.forward_bytes)}",
            f"Forward + backward per image: ~2 x forward = {_bytes(self.forward_backward_bytes)}",
            f"Multiply-adds per image: {self.multiply_adds:,} ({_short(self.multiply_adds)}); "
            f"convolutions and linear layers: {self.conv_linear_multiply_adds:,} "
            f"({_short(self.conv_linear_multiply_adds)})",
        ]
        if self.uncalled_parameters:
            lines.append(
                f"{self.uncalled_parameters:,} parameters are in modules this forward pass did not call "
                "(e.g. auxiliary classifiers in eval mode)"
            )
        return lines + self.notes

    __str__ = table

    def __repr__(self) -> str:
        return self.table()


def _bytes(count: int | float) -> str:
    return f"{int(count):,} bytes ({count / MB:.2f} MB, {count / MIB:.2f} MiB)"


def _short_bytes(count: int) -> str:
    return f"{count / MB:.2f} MB"


def _short(count: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            return f"{count / size:.2f}{unit}"
    return str(count)


def multiply_adds(module: nn.Module, input: Tensor, output: Tensor) -> int:
    """The multiply-adds of one call, by the conventions in this module's docstring."""
    out_values = int(np.prod(output.shape))
    if isinstance(module, nn.Conv2d):
        kernel = math.prod(module.weight.shape[1:])  # (in_channels / groups) x kh x kw
        return out_values * kernel
    if isinstance(module, nn.ConvTranspose2d):  # weight (in_channels, out_channels / groups, kh, kw)
        return int(np.prod(input.shape)) * math.prod(module.weight.shape[1:])
    if isinstance(module, nn.Linear):
        return out_values * module.in_features
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        return out_values
    if isinstance(module, nn.LocalResponseNorm):
        return out_values * module.size
    if isinstance(module, nn.AvgPool2d):
        return out_values * math.prod(_pair(module.kernel_size))
    if isinstance(module, nn.AdaptiveAvgPool2d):
        windows = [math.ceil(i / o) for i, o in zip(input.shape[-2:], output.shape[-2:], strict=True)]
        return out_values * math.prod(windows)
    return 0


def _pair(value: Any) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value, value)


def _is_leaf(module: nn.Module) -> bool:
    return not any(True for _ in module.children()) or any(True for _ in module.parameters(recurse=False))


def summary(
    model: nn.Module,
    input_size: tuple[int, ...] | list[int],
    batch_size: int = 1,
    dtype: Any = np.float32,
    train: bool = False,
    name: str | None = None,
) -> ModelSummary:
    """Tabulate ``model`` for inputs of ``input_size`` (C, H, W): shapes, parameters, memory, multiply-adds.

    The forward pass runs in eval mode unless ``train`` (the model's mode is restored afterwards) and
    records no graph. ``print(ember.summary(model, (3, 224, 224)))`` prints the table.
    """
    rows: list[LayerSummary] = []
    called: set[int] = set()
    x = Tensor(np.zeros((batch_size, *input_size), dtype=dtype))
    # Storage already counted (the input's and every layer output's), kept alive so that no id is reused.
    counted = {id(x.array): x.array}
    names = {id(module): name for name, module in model.named_modules()}

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        called.add(id(module))
        first = next((x for x in inputs if isinstance(x, Tensor)), None)
        if not isinstance(output, Tensor):
            output = next((x for x in _flatten(output) if isinstance(x, Tensor)), None)
            if output is None:
                return
        # In place: the output reuses its input's storage, and that storage was already counted (a
        # tensor made by an operation in forward(), such as a residual sum, is counted where it surfaces).
        root = _root(output.array)
        in_place = first is not None and root is _root(first.array) and id(root) in counted
        counted[id(root)] = root
        values = 0 if in_place else int(np.prod(output.shape))
        parameters = {name: p.numel() for name, p in module.named_parameters(recurse=False)}
        rows.append(
            LayerSummary(
                names[id(module)] or type(module).__name__,
                type(module).__name__,
                tuple(output.shape),
                parameters,
                values,
                values * output.array.itemsize,
                multiply_adds(module, first, output) if first is not None else 0,
                in_place,
            )
        )

    leaves = [module for module in model.modules() if _is_leaf(module)]
    removers = [module.register_forward_hook(hook) for module in leaves]
    was_training = model.training
    model.train(train)
    try:
        with no_grad():
            model(x)
    finally:
        for remove in removers:
            remove()
        model.train(was_training)
    params = list(model.parameters())
    uncalled = sum(
        p.numel() for module in leaves if id(module) not in called for p in module.parameters(recurse=False)
    )
    return ModelSummary(
        model_name=name or type(model).__name__,
        input_shape=tuple(input_size),
        layers=rows,
        total_parameters=sum(p.numel() for p in params),
        trainable_parameters=sum(p.numel() for p in params if p.requires_grad),
        parameter_bytes=sum(p.array.nbytes for p in params),
        input_values=x.numel(),
        input_bytes=x.array.nbytes,
        batch_size=batch_size,
        uncalled_parameters=uncalled,
    )


def _root(array: np.ndarray) -> np.ndarray:
    """The array that owns the memory of ``array`` (itself, or the base of a view)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, tuple | list):
        return [item for element in value for item in _flatten(element)]
    return [value]
