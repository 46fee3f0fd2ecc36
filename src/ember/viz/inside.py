"""Seeing inside a trained network: the numbers behind ``ember viz``'s pictures (``ember.viz.draw``).

- ``first_weights``: the first layer's weights as images: a conv layer's filters, or a fully connected
  layer's rows reshaped to the input (the lectures' "first layer is a bank of templates").
- ``templates``: one image per class, the gradient of the class score w.r.t. the pixels at the mean image;
  for a linear classifier that is exactly its row of ``W`` ("one template per class").
- ``activations``: a layer's output for one image (a forward hook).
- ``top_patches``: per channel of a layer, the input patches that excite it most over a set of images
  (Zeiler and Fergus 2014); a patch is the part of the input the unit depends on (where its gradient
  w.r.t. the pixels is not zero), so no receptive-field arithmetic is needed.
- ``saliency``: |d score / d pixel|, the largest over the colour channels (Simonyan et al. 2014).
- ``occlusion``: the class probability as a grey patch slides over the image (Zeiler and Fergus 2014).
- ``neighbours``: the nearest images to a query in feature space and in pixel space (L2).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ember import nn, no_grad, tensor
from ember.errors import EmberError, name_list
from ember.ops.softmax import softmax_array


class LayerError(EmberError, ValueError):
    """A layer named for ``ember viz`` that the model does not have, or of the wrong kind."""


def layer_names(model: nn.Module) -> list[str]:
    """The names of the model's layers (``named_modules`` without the model itself and containers)."""
    return [name for name, module in model.named_modules() if name and not list(module.children())]


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """The layer called ``name`` (as in ``named_modules``), or one message listing the names there are."""
    layers = dict(model.named_modules())
    if name not in layers or not name:
        raise LayerError(
            f"the model has no layer '{name}'; its layers are {name_list(layer_names(model), 12)}"
        )
    return layers[name]


def first_weighted(model: nn.Module) -> tuple[str, nn.Module]:
    """The first Conv2d or Linear layer (name, module)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            return name, module
    raise LayerError("the model has no Conv2d or Linear layer to show")


def first_weights(model: nn.Module, input_size: tuple[int, int, int]) -> np.ndarray:
    """The first layer's weights as (N, C, H, W) images: conv filters, or Linear rows shaped as the input."""
    _, layer = first_weighted(model)
    weight = layer.weight.array
    if weight.ndim == 4:
        return weight.copy()
    if weight.shape[1] != int(np.prod(input_size)):
        raise LayerError(f"the first Linear layer takes {weight.shape[1]} values, not a {input_size} image")
    return weight.reshape(-1, *input_size).copy()


def class_scores_gradient(model: nn.Module, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """d score[target] / d image for each image (a batch: one backward pass; the model in eval mode)."""
    x = tensor(np.asarray(images, dtype=np.float32), requires_grad=True)
    scores = model(x)
    chosen = np.zeros(scores.shape, dtype=np.float32)
    chosen[np.arange(len(targets)), targets] = 1.0
    (scores * tensor(chosen)).sum().backward()
    assert x.grad is not None
    return x.grad.array.copy()


def templates(model: nn.Module, mean_image: np.ndarray, num_classes: int) -> np.ndarray:
    """One (C, H, W) template per class: the class score's gradient at ``mean_image``."""
    batch = np.repeat(mean_image[None], num_classes, axis=0)
    return class_scores_gradient(model, batch, np.arange(num_classes))


def saliency(model: nn.Module, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(N, H, W) saliency maps: |d score[target] / d pixel|, the largest over the channels."""
    return np.abs(class_scores_gradient(model, images, targets)).max(axis=1)


@contextmanager
def recording(layer: nn.Module) -> Iterator[list[Any]]:
    """While open, the layer's outputs (Tensors, in the graph) are appended to the yielded list."""
    outputs: list[Any] = []
    handle = layer.register_forward_hook(lambda module, inputs, output: outputs.append(output))
    try:
        yield outputs
    finally:
        handle.remove()


def layer_output(model: nn.Module, layer: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The layer's output for each image, (N, ...) (no gradients)."""
    parts = []
    with recording(layer) as outputs, no_grad():
        for start in range(0, len(images), batch_size):
            model(tensor(np.asarray(images[start : start + batch_size], dtype=np.float32)))
            parts.append(outputs.pop().array.copy())
    return np.concatenate(parts)


def activations(model: nn.Module, layer: nn.Module, image: np.ndarray) -> np.ndarray:
    """The layer's output for one (C, H, W) image: (channels, h, w) maps, or (features,)."""
    return layer_output(model, layer, image[None])[0]


@dataclass
class Patches:
    """Per channel, the ``k`` strongest activations: ``value``, image ``index`` and ``box`` (top, left,
    bottom, right; bottom and right exclusive) of the input it depends on. Arrays are (channels, k)."""

    channels: np.ndarray
    value: np.ndarray
    index: np.ndarray
    box: np.ndarray  # (channels, k, 4)

    def crops(self, images: np.ndarray) -> list[list[np.ndarray]]:
        """The patches themselves, per channel."""
        return [
            [
                images[i][:, top:bottom, left:right]
                for i, (top, left, bottom, right) in zip(row, boxes, strict=True)
            ]
            for row, boxes in zip(self.index, self.box, strict=True)
        ]


def top_patches(
    model: nn.Module, layer: nn.Module, images: np.ndarray, channels: int = 8, k: int = 8
) -> Patches:
    """The ``k`` input patches that excite each of the first ``channels`` channels of a conv layer most."""
    maps = layer_output(model, layer, images)
    if maps.ndim != 4:
        raise LayerError(
            f"top patches need a layer with (channels, height, width) outputs, not {maps.shape[1:]}"
        )
    chosen = np.arange(min(channels, maps.shape[1]))
    flat = maps[:, chosen].transpose(1, 0, 2, 3).reshape(len(chosen), -1)
    k = min(k, flat.shape[1])
    best = np.argsort(-flat, axis=1, kind="stable")[:, :k]
    index, rows, columns = np.unravel_index(best, (maps.shape[0], *maps.shape[2:]))
    value = np.take_along_axis(flat, best, axis=1)
    # one backward pass through a batch of the chosen images: each unit's gradient w.r.t. its own image
    x = tensor(np.asarray(images[index.ravel()], dtype=np.float32), requires_grad=True)
    mask = np.zeros((x.shape[0], *maps.shape[1:]), dtype=np.float32)
    units = np.repeat(chosen, k)
    mask[np.arange(x.shape[0]), units, rows.ravel(), columns.ravel()] = 1.0
    with recording(layer) as outputs:
        model(x)
    (outputs[0] * tensor(mask)).sum().backward()
    assert x.grad is not None
    reach = np.abs(x.grad.array).sum(axis=1) > 0
    boxes = np.zeros((x.shape[0], 4), dtype=np.int64)
    height, width = images.shape[2:]
    for n, seen in enumerate(reach):
        ys, xs = np.nonzero(seen)
        boxes[n] = (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1) if len(ys) else (0, 0, height, width)
    return Patches(chosen, value, index, boxes.reshape(len(chosen), k, 4))


def occlusion(
    model: nn.Module,
    image: np.ndarray,
    target: int,
    patch: int = 6,
    stride: int = 2,
    fill: float | None = None,
) -> np.ndarray:
    """The probability of ``target`` with a ``patch`` x ``patch`` square of ``fill`` (default: the image's
    mean, "grey") at each position (top-left every ``stride`` pixels): an (rows, columns) map."""
    _, height, width = image.shape
    tops, lefts = range(0, height - patch + 1, stride), range(0, width - patch + 1, stride)
    grey = float(image.mean()) if fill is None else fill
    variants = np.repeat(image[None], len(tops) * len(lefts), axis=0).astype(np.float32)
    for n, (top, left) in enumerate((t, x) for t in tops for x in lefts):
        variants[n, :, top : top + patch, left : left + patch] = grey
    with no_grad():
        scores = np.concatenate(
            [model(tensor(variants[s : s + 256])).array for s in range(0, len(variants), 256)]
        )
    return softmax_array(scores.astype(np.float64), 1)[:, target].reshape(len(tops), len(lefts))


def neighbours(features: np.ndarray, queries: np.ndarray, k: int = 6) -> np.ndarray:
    """For each query row, the indices of the ``k`` nearest rows of ``features`` (L2), nearest first;
    a query that is itself in ``features`` finds itself first."""
    features = features.reshape(len(features), -1).astype(np.float64)
    queries = queries.reshape(len(queries), -1).astype(np.float64)
    distances = (queries**2).sum(1)[:, None] - 2 * queries @ features.T + (features**2).sum(1)[None]
    return np.argsort(distances, axis=1, kind="stable")[:, :k]


def last_linear(model: nn.Module) -> nn.Module:
    """The classifier: the model's last Linear layer."""
    linear = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not linear:
        raise LayerError("the model has no Linear layer (its classifier) to read the features before")
    return linear[-1]


def features(model: nn.Module, images: np.ndarray, layer: nn.Module | None = None) -> np.ndarray:
    """(N, D) features: the output of ``layer``, or by default what the classifier (the last Linear) sees."""
    if layer is not None:
        return layer_output(model, layer, images).reshape(len(images), -1)
    inputs: list[np.ndarray] = []
    handle = last_linear(model).register_forward_hook(
        lambda m, given, out: inputs.append(given[0].array.copy())
    )
    try:
        with no_grad():
            for start in range(0, len(images), 256):
                model(tensor(np.asarray(images[start : start + 256], dtype=np.float32)))
    finally:
        handle.remove()
    return np.concatenate(inputs).reshape(len(images), -1)
