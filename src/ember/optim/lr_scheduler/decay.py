"""Decay schedules: the learning rate falls with the step count ``t``.

The lecture's ways to decay: step decay (``StepLR``, ``MultiStepLR``: "reduce the learning rate by a half
every 5 epochs or 0.1 every 20"), exponential decay ``a0 e^{-kt}`` (``ExponentialLR`` with ``gamma =
e^{-k}``), 1/t decay ``a0 / (1 + kt)`` (``InverseTimeLR``), linear (``LinearLR``, ``PolynomialLR`` with
``power=1``), inverse square root ``a0 / sqrt(t)`` (``InverseSqrtLR``, with the linear warm-up Transformers
use), and constant or linear warm-up factors (``ConstantLR``, ``LinearLR``).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable

from ember.optim.lr_scheduler.base import LRScheduler
from ember.optim.optimizer import Optimizer


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (t // step_size)``: multiply by ``gamma`` every ``step_size`` steps."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._unchanged()
        return self._scaled(self.gamma)

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply by ``gamma`` at each of the ``milestones`` (a milestone given twice multiplies twice)."""

    def __init__(
        self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._unchanged()
        return self._scaled(self.gamma ** self.milestones[self.last_epoch])

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [base * self.gamma ** bisect_right(milestones, self.last_epoch) for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """``lr = base_lr * factor`` for the first ``total_iters`` steps, then ``base_lr`` (a constant
    warm-up)."""

    def __init__(
        self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1
    ) -> None:
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return self._scaled(self.factor)
        if self.last_epoch != self.total_iters:
            return self._unchanged()
        return self._scaled(1.0 / self.factor)

    def _get_closed_form_lr(self) -> list[float]:
        reached = self.last_epoch >= self.total_iters
        return [base * (self.factor + reached * (1 - self.factor)) for base in self.base_lrs]


class LinearLR(LRScheduler):
    """The factor on ``base_lr`` moves linearly from ``start_factor`` to ``end_factor`` over ``total_iters``
    steps, then stays (a linear warm-up, or with ``end_factor < start_factor`` a linear decay)."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or equal to 1."
            )
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return self._scaled(self.start_factor)
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._unchanged()
        change = self.end_factor - self.start_factor
        # factor(t) / factor(t - 1), with factor(t) = start + change * t / total
        return self._scaled(
            1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        )

    def _get_closed_form_lr(self) -> list[float]:
        change = self.end_factor - self.start_factor
        progress = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + change * progress) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """``lr = base_lr * gamma ** t``: the lecture's exponential decay ``a0 e^{-kt}`` with ``gamma =
    e^{-k}``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._unchanged()
        return self._scaled(self.gamma)

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """``lr = base_lr * (1 - t / total_iters) ** power`` until ``total_iters``, then 0 (``power=1``:
    linear)."""

    def __init__(
        self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1
    ) -> None:
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._unchanged()
        ratio = (1.0 - self.last_epoch / self.total_iters) / (1.0 - (self.last_epoch - 1) / self.total_iters)
        return self._scaled(ratio**self.power)

    def _get_closed_form_lr(self) -> list[float]:
        remaining = 1.0 - min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * remaining**self.power for base in self.base_lrs]


class _FactorSchedule(LRScheduler):
    """A schedule ``lr_t = base_lr * factor(t)`` given by its ``factor``; chainable as ``lr *= f(t) /
    f(t-1)``."""

    def factor(self, t: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if self._is_initial:
            return self._scaled(self.factor(0)) if t == 0 else self._get_closed_form_lr()
        return self._scaled(self.factor(t) / self.factor(t - 1))

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]


class InverseTimeLR(_FactorSchedule):
    """The lecture's 1/t decay: ``lr = base_lr / (1 + decay_rate * t)``.

    Not in PyTorch (``LambdaLR(opt, lambda t: 1 / (1 + k * t))`` gives the same rates); ``decay_rate`` is the
    lecture's ``k``. Big steps early, then a slow decay that never stops (the step sizes sum to infinity while
    their squares do not, the classical condition for stochastic approximation to converge).
    """

    def __init__(self, optimizer: Optimizer, decay_rate: float, last_epoch: int = -1) -> None:
        if decay_rate < 0:
            raise ValueError(f"InverseTimeLR: decay_rate must be >= 0, got {decay_rate}")
        self.decay_rate = decay_rate
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        return 1.0 / (1.0 + self.decay_rate * t)


class InverseSqrtLR(_FactorSchedule):
    """Inverse square-root decay ``lr = base_lr / sqrt(t + 1)``, optionally after a linear warm-up.

    With ``warmup_steps = W > 0``: ``lr = base_lr * min((t + 1) / W, sqrt(W / (t + 1)))``, rising linearly to
    ``base_lr`` at step ``W - 1`` and then decaying as ``1/sqrt(t)`` (the schedule of Vaswani et al.,
    *Attention is all you need*, 2017, scaled so that its peak is ``base_lr``). Steps are counted from 1 (``t
    + 1``) so that the first rate is finite. Not in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int = 0, last_epoch: int = -1) -> None:
        if warmup_steps < 0:
            raise ValueError(f"InverseSqrtLR: warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_steps = warmup_steps
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        warmup = max(self.warmup_steps, 1)
        return min((t + 1) / warmup, math.sqrt(warmup / (t + 1)))
