"""Transfer learning: start from a trained model, replace its classifier, fine-tune some or all of it.

The lecture's recipe ("Transfer Learning with CNNs"): train on a big data set (or take a model trained on
one); on a new data set, re-initialize the last layer and train it alone as a linear classifier on frozen
features, or fine-tune more layers, with about 1/10 of the original learning rate for the pretrained part.
Which to do follows its table:

===================  ====================================  =================================
                     very similar data set                 very different data set
===================  ====================================  =================================
very little data     ``linear``: linear classifier on top  you're in trouble: try ``linear``
                                                           on features from different stages
quite a lot of data  ``top``: fine-tune a few layers       ``all``: fine-tune a larger number
                                                           of layers (or all of them)
===================  ====================================  =================================

The mechanics are PyTorch's and take a few lines (``docs/ensembles.md``)::

    model.requires_grad_(False)                       # freeze the pretrained network
    model.fc = nn.Linear(model.fc.in_features, 5)     # a new head (trainable, freshly initialized)
    optimizer = SGD([{"params": model.fc.parameters()},
                     {"params": model.layer4.parameters(), "lr": 0.001}], lr=0.01, momentum=0.9)

``freeze`` adds what those lines leave out: batch norm in a frozen part keeps its running statistics
(eval mode) while the rest of the model trains. ``prepare_finetuning`` does the whole recipe by strategy
and returns the optimizer's parameter groups (the new head at ``lr``, the pretrained layers it trains at
``lr * backbone_lr``).
"""

from __future__ import annotations

import weakref
from typing import Any

from ember.errors import EmberError
from ember.nn.module import Module

STRATEGIES = {
    "linear": "train a new classifier on frozen features (little data, similar to the pretraining data)",
    "top": "fine-tune the new classifier and the last few layers (more data, or less similar)",
    "all": "fine-tune every layer, the pretrained ones at a lower rate (a lot of data)",
}
_FROZEN_NORMS: weakref.WeakKeyDictionary[Module, Any] = weakref.WeakKeyDictionary()


class TransferError(EmberError, ValueError):
    """A model or strategy that transfer learning cannot use; the message says what and what to do."""


def _is_norm(module: Module) -> bool:
    return callable(getattr(module, "reset_running_stats", None)) and hasattr(module, "running_mean")


def _stay_in_eval(module: Module, _inputs: Any) -> None:
    module.training = False


def freeze(module: Module, batchnorm_eval: bool = True) -> Module:
    """No gradients for ``module``'s parameters (``requires_grad_(False)``); with ``batchnorm_eval``, its
    batch norm layers also keep their running statistics (they run in eval mode even in ``train()``)."""
    module.requires_grad_(False)
    if batchnorm_eval:
        for layer in module.modules():
            if _is_norm(layer) and layer not in _FROZEN_NORMS:
                _FROZEN_NORMS[layer] = layer.register_forward_pre_hook(_stay_in_eval)
    return module


def unfreeze(module: Module) -> Module:
    """Undo ``freeze``: gradients again, and batch norm follows ``train()`` / ``eval()`` again."""
    module.requires_grad_(True)
    for layer in module.modules():
        handle = _FROZEN_NORMS.pop(layer, None)
        if handle is not None:
            handle.remove()
            layer.training = module.training
    return module


def _layers_with_weights(model: Module) -> list[tuple[str, Module]]:
    """Linear and convolution layers (a weight of 2 or more dimensions of their own), in forward order."""
    found = []
    for name, layer in model.named_modules():
        weight = dict(layer.named_parameters(recurse=False)).get("weight")
        if name and weight is not None and weight.ndim >= 2:
            found.append((name, layer))
    return found


def head_name(model: Module) -> str:
    """The name of the classifier: the last linear or convolution layer (``fc``, ``classifier.6``, ...)."""
    layers = _layers_with_weights(model)
    if not layers:
        raise TransferError(f"{type(model).__name__} has no linear or convolution layer to use as its head")
    return layers[-1][0]


def replace_head(model: Module, num_classes: int) -> Module:
    """Put a new, freshly initialized classifier of ``num_classes`` outputs in place of the old one."""
    name = head_name(model)
    old: Any = model.get_submodule(name)
    parent_name, _, leaf = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    kind: Any = type(old)
    if hasattr(old, "in_features"):
        new = kind(old.in_features, num_classes, bias=old.bias is not None)
    elif hasattr(old, "in_channels"):
        new = kind(
            old.in_channels,
            num_classes,
            old.kernel_size,
            stride=old.stride,
            padding=old.padding,
            bias=old.bias is not None,
        )
    else:  # pragma: no cover - every head in the zoo is a Linear or a Conv2d
        raise TransferError(f"{name}: a {type(old).__name__}, which replace_head does not know how to remake")
    setattr(parent, leaf, new)
    return new


def prepare_finetuning(
    model: Module,
    strategy: str = "all",
    lr: float = 0.01,
    backbone_lr: float = 0.1,
    num_classes: int | None = None,
    layers: int = 2,
    batchnorm_eval: bool = True,
) -> list[dict[str, Any]]:
    """Freeze ``model`` by ``strategy`` and return the optimizer's parameter groups.

    ``num_classes``: replace the head with a new one of that many outputs (None: keep the trained head).
    ``linear`` trains the head only; ``top`` the head and the ``layers`` linear/convolution layers before
    it (with every layer that follows them, such as their batch norm); ``all`` everything. The head trains
    at ``lr``, the pretrained layers that train at ``lr * backbone_lr`` (the lecture's 1/10 by default).
    """
    if strategy not in STRATEGIES:
        raise TransferError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if num_classes is not None:
        replace_head(model, num_classes)
    head = head_name(model)
    unfreeze(model)
    ordered = [name for name, _ in _layers_with_weights(model)]
    if strategy == "linear":
        first_trained = head
    elif strategy == "top":
        first_trained = ordered[max(0, len(ordered) - 1 - layers)]
    else:
        first_trained = ordered[0]
    modules = [name for name, _ in model.named_modules() if name]
    for name in modules[: modules.index(first_trained)]:  # every layer before the first one trained
        layer = model.get_submodule(name)
        if next(layer.children(), None) is None:
            freeze(layer, batchnorm_eval)
    head_params = [p for name, p in model.named_parameters() if _under(name, head)]
    backbone = [p for name, p in model.named_parameters() if not _under(name, head) and p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": head_params, "lr": lr}]
    if backbone:
        groups.append({"params": backbone, "lr": lr * backbone_lr})
    return groups


def _under(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def trainable(model: Module) -> tuple[int, int]:
    """(parameters that train, all parameters), counted in numbers."""
    total = sum(int(p.array.size) for p in model.parameters())
    return sum(int(p.array.size) for p in model.parameters() if p.requires_grad), total
