"""Weight averaging, as ``torch.optim.swa_utils``: Polyak / EMA averages and stochastic weight averaging.

The cheap relatives of a model ensemble: instead of averaging the predictions of several models, average
the *weights* of one model along its training trajectory and use the average at test time.

- Polyak averaging with exponential weights (EMA): ``W_ema <- decay W_ema + (1 - decay) W`` after each
  step (``get_ema_multi_avg_fn``, ``get_ema_avg_fn``).
- Stochastic weight averaging (Izmailov et al., *Averaging weights leads to wider optima and better
  generalization*, UAI 2018): the equal-weight running mean of the weights visited late in training, at a
  constant or cyclic learning rate (``SWALR`` anneals to the constant ``swa_lr``; ``get_swa_avg_fn``).

``AveragedModel(model)`` holds a copy of the model whose parameters ``update_parameters(model)`` moves
towards the model's (the first call copies them). Batch norm's running statistics do not belong to the
averaged weights: ``update_bn(loader, averaged)`` recomputes them with one pass over the training data (or
``use_buffers=True`` averages the buffers too). Names, arguments and arithmetic follow PyTorch's.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any

import numpy as np

from ember.autograd import Tensor, from_numpy, no_grad
from ember.nn.module import Module
from ember.optim.lr_scheduler.base import LRScheduler, per_group
from ember.optim.optimizer import Optimizer, lerp_

__all__ = [
    "SWALR",
    "AveragedModel",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]

AvgFn = Callable[[Tensor, Tensor, Any], Tensor]
MultiAvgFn = Callable[[Sequence[Tensor], Sequence[Tensor], Any], None]


def _check_decay(decay: float) -> None:
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def _average_into(averaged: Tensor, value: np.ndarray) -> None:
    """Store ``value`` in ``averaged`` in place (integer buffers are truncated, as ``Tensor.copy_``)."""
    target = averaged.array
    target[...] = np.trunc(value) if target.dtype.kind in "iu" else value


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """In place, for lists of tensors: ``W_ema <- decay W_ema + (1 - decay) W`` (``lerp`` by 1 - decay)."""
    _check_decay(decay)

    def ema_update(ema_params: Sequence[Tensor], current_params: Sequence[Tensor], _: Any) -> None:
        for ema, current in zip(ema_params, current_params, strict=True):
            if ema.array.dtype.kind == "f":
                lerp_(ema.array, current.array, 1 - decay, np.empty_like(ema.array))
            else:
                _average_into(ema, ema.array * decay + current.array * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """In place, for lists of tensors: the running mean ``W_swa <- W_swa + (W - W_swa) / (n + 1)``."""

    def swa_update(averaged_params: Sequence[Tensor], current_params: Sequence[Tensor], n: Any) -> None:
        count = int(n.item() if isinstance(n, Tensor) else n)
        for averaged, current in zip(averaged_params, current_params, strict=True):
            if averaged.array.dtype.kind == "f":
                lerp_(averaged.array, current.array, 1 / (count + 1), np.empty_like(averaged.array))
            else:
                _average_into(averaged, averaged.array + (current.array - averaged.array) / (count + 1))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """For one tensor: returns ``decay W_ema + (1 - decay) W``."""
    _check_decay(decay)

    def ema_update(ema: Tensor, current: Tensor, _: Any) -> Tensor:
        return from_numpy(np.asarray(decay * ema.array + (1 - decay) * current.array))

    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """For one tensor: returns ``W_swa + (W - W_swa) / (n + 1)``."""

    def swa_update(averaged: Tensor, current: Tensor, n: Any) -> Tensor:
        count = int(n.item() if isinstance(n, Tensor) else n)
        return from_numpy(np.asarray(averaged.array + (current.array - averaged.array) / (count + 1)))

    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` holding the running average of its weights (SWA by default, EMA with
    ``multi_avg_fn=get_ema_multi_avg_fn(decay)``); use it like the model (``forward`` is the copy's).

    ``update_parameters(model)`` copies the model's parameters on its first call and averages them in
    after; ``n_averaged`` (a buffer, saved in the state dict) counts the calls. Buffers (batch norm's
    running statistics) are copied from the model unless ``use_buffers=True`` averages them too.
    ``avg_fn`` and ``multi_avg_fn`` are not saved in the state dict.
    """

    def __init__(
        self,
        model: Module,
        device: Any = None,
        avg_fn: AvgFn | None = None,
        multi_avg_fn: MultiAvgFn | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", Tensor(np.array(0, dtype=np.int64)))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Average ``model``'s current parameters (and buffers, with ``use_buffers``) into this copy."""
        if self.use_buffers:
            mine = [*chain(self.module.parameters(), self.module.buffers())]
            theirs = [*chain(model.parameters(), model.buffers())]
        else:
            mine, theirs = [*self.module.parameters()], [*model.parameters()]
        if len(mine) != len(theirs):
            raise ValueError(
                f"AveragedModel.update_parameters: the model has {len(theirs)} tensors to average, the "
                f"averaged copy {len(mine)}: pass the model this AveragedModel was made from"
            )
        count = int(self.n_averaged.item())
        with no_grad():
            if count == 0:
                for averaged, current in zip(mine, theirs, strict=True):
                    averaged.array[...] = current.array
            elif self.avg_fn is not None:
                for averaged, current in zip(mine, theirs, strict=True):
                    _average_into(averaged, self.avg_fn(averaged, current, self.n_averaged).array)
            else:
                for kind in dict.fromkeys(t.array.dtype for t in mine):  # PyTorch groups by dtype
                    pairs = [(a, c) for a, c in zip(mine, theirs, strict=True) if a.array.dtype == kind]
                    averaging = self.multi_avg_fn or get_swa_multi_avg_fn()
                    averaging([a for a, _ in pairs], [c for _, c in pairs], self.n_averaged)
            if not self.use_buffers:  # keep the buffers in step with the model's
                for averaged, current in zip(self.module.buffers(), model.buffers(), strict=True):
                    averaged.array[...] = current.array
        self.n_averaged.array[...] = count + 1


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute batch norm's running statistics of ``model`` with one pass over ``loader``.

    Each batch is a tensor or a list/tuple whose first item is the input. The statistics are reset and
    re-estimated as cumulative averages (``momentum=None``); the momenta and the model's mode are restored.
    """
    momenta = {}
    for module in model.modules():
        if callable(getattr(module, "reset_running_stats", None)) and hasattr(module, "momentum"):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    try:
        with no_grad():
            for batch in loader:
                model(batch[0] if isinstance(batch, list | tuple) else batch)
    finally:
        for module, momentum in momenta.items():
            module.momentum = momentum
        model.train(was_training)


def _cos_anneal(t: float) -> float:
    return (1 - math.cos(math.pi * t)) / 2


def _linear_anneal(t: float) -> float:
    return t


ANNEALING = {"cos": _cos_anneal, "linear": _linear_anneal}


class SWALR(LRScheduler):
    """Anneal each group's rate to ``swa_lr`` over ``anneal_epochs`` steps (cosine or linear), then hold it.

    ``swa_lr`` is one rate or one per parameter group; as PyTorch's, stepped once per epoch in the SWA
    phase, in place of the schedule used before it.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | Sequence[float],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ) -> None:
        for group, rate in zip(optimizer.param_groups, per_group("swa_lr", optimizer, swa_lr), strict=True):
            group["swa_lr"] = rate
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must by one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self.anneal_strategy = anneal_strategy
        self.anneal_func = ANNEALING[anneal_strategy]
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        return swa_lr if alpha == 1 else (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0.0, min(1.0, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        groups = self.optimizer.param_groups
        previous = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        alpha = self.anneal_func(max(0.0, min(1.0, step / max(1, self.anneal_epochs))))
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, previous, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        """As the other schedules', without the annealing function (named by ``anneal_strategy``)."""
        return {key: value for key, value in super().state_dict().items() if key != "anneal_func"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.anneal_func = ANNEALING[self.anneal_strategy]
