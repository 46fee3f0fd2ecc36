"""The callback contract: what the training loop tells the code that watches it, and when.

The ``Trainer`` runs the loop and calls, in this order::

    on_fit_start
      on_epoch_start
        on_train_batch_end      after each update, with that step's loss, accuracy, learning rate, time
      on_epoch_end              after validation, with the epoch's record (train and validation metrics)
    on_fit_end                  always, also after a stop (early stopping, divergence, Ctrl-C)

A callback sees the loop as a ``TrainingLoop``: the counters, the history and the way to stop, as the
``Trainer`` provides them (this module does not import the Trainer: the loop depends on its callbacks, not
the other way round). A callback may ask the loop to stop (``trainer.stop(reason)``); it never changes the
model or the optimizer behind the loop's back. Callbacks with state that matters for resuming (early
stopping's patience counter, the best score so far) return it from ``state_dict`` and it is saved in the
checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class BatchLogs:
    """What one training step measured. ``loss`` is the data loss; ``objective`` adds the penalty."""

    step: int  # optimizer steps taken so far in the run (1 after the first)
    epoch: int  # the epoch this step belongs to, counted from 0
    batch: int  # the step's index within its epoch, from 0
    batches: int  # steps in a full epoch
    loss: float
    objective: float
    correct: float | None  # right answers (a segmentation batch: its images' pixel accuracies, summed);
    # None: the task counts no accuracy in training (a detector)
    size: int
    lr: float
    seconds: float  # wall time since the previous step ended (data loading included)


class TrainingLoop(Protocol):
    """What a callback may read of the loop that calls it (``ember.train.Trainer`` is one)."""

    model: Any
    optimizer: Any
    train_loader: Any
    epoch: int  # epochs completed
    step: int  # optimizer steps taken
    max_epochs: int
    scheduler_interval: str  # "step" or "epoch"
    history: list[dict[str, Any]]
    should_stop: bool
    stop_reason: str | None
    diverged: bool
    interrupted: bool

    @property
    def batches_done(self) -> int:
        """Steps taken in the epoch under way (more than 0 at the start of a resumed epoch)."""
        ...

    @property
    def lr(self) -> float:
        """The first parameter group's learning rate now."""
        ...

    @property
    def finished(self) -> bool:
        """All epochs done, or stopped for good (early stopping, divergence)."""
        ...

    def stop(self, reason: str, diverged: bool = False) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...


class Callback:
    """Base class: override the hooks you need. ``order`` sorts callbacks (checkpointing runs last)."""

    order = 0

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        pass

    def on_epoch_start(self, trainer: TrainingLoop) -> None:
        pass

    def on_train_batch_end(self, trainer: TrainingLoop, logs: BatchLogs) -> None:
        pass

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        pass

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    @property
    def state_key(self) -> str:
        return type(self).__name__


class CallbackList:
    """Calls each hook on every callback, in ``order``."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks = sorted(callbacks, key=lambda callback: callback.order)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def append(self, callback: Callback) -> None:
        self.callbacks = sorted([*self.callbacks, callback], key=lambda item: item.order)

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        for callback in self.callbacks:
            callback.on_fit_start(trainer)

    def on_epoch_start(self, trainer: TrainingLoop) -> None:
        for callback in self.callbacks:
            callback.on_epoch_start(trainer)

    def on_train_batch_end(self, trainer: TrainingLoop, logs: BatchLogs) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_end(trainer, logs)

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(trainer, record)

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        for callback in self.callbacks:
            callback.on_fit_end(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {callback.state_key: callback.state_dict() for callback in self.callbacks}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for callback in self.callbacks:
            if callback.state_key in state:
                callback.load_state_dict(state[callback.state_key])
