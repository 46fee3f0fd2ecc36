"""``ModelCheckpoint``: keep the last state of the run and the best one, on disk, always whole.

After every epoch the run's whole state goes to ``last.safetensors`` (what ``ember resume`` continues from)
and, when the monitored validation metric improved, also to ``best.safetensors`` (the model to keep: the
one that did best on held-out data). ``every_n_steps`` adds mid-epoch saves of ``last`` for long epochs.
A run stopped by Ctrl-C or SIGTERM saves ``last`` where it stopped, so it can continue mid-epoch; a run
stopped by the divergence guard saves nothing, so the last good checkpoint is the one left. Each write is
atomic (``ember.atomic.atomic_write``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ember.atomic import atomic_write
from ember.train.callbacks.base import BatchLogs, Callback, TrainingLoop
from ember.train.callbacks.early_stopping import MODES, improved, monitored
from ember.train.checkpoint import SUFFIX, serialize

LAST, BEST = "last" + SUFFIX, "best" + SUFFIX


class ModelCheckpoint(Callback):
    """Save ``last.safetensors`` each epoch (and every ``every_n_steps``) and ``best.safetensors``."""

    order = 100  # after every other callback has updated the state it saves

    def __init__(
        self,
        directory: str | os.PathLike[str],
        monitor: str | None = "val_accuracy",
        mode: str = "max",
        every_n_steps: int | None = None,
        metadata: dict[str, Any] | Callable[[TrainingLoop], dict[str, Any]] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"ModelCheckpoint: mode must be 'max' or 'min', got {mode!r}")
        self.directory = Path(directory)
        self.monitor, self.mode, self.every_n_steps = monitor, mode, every_n_steps
        self.metadata = metadata
        self.best: float | None = None
        self.best_epoch = 0
        self.saved: list[Path] = []

    @property
    def last_path(self) -> Path:
        return self.directory / LAST

    @property
    def best_path(self) -> Path:
        return self.directory / BEST

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(f".*{SUFFIX}.tmp-*"):  # left by a process killed mid-write
            with contextlib.suppress(OSError):
                stale.unlink()

    def on_train_batch_end(self, trainer: TrainingLoop, logs: BatchLogs) -> None:
        due = bool(self.every_n_steps) and logs.step % (self.every_n_steps or 1) == 0
        if due and not trainer.should_stop and logs.batch + 1 < logs.batches:  # on_epoch_end saves the end
            self.save(trainer, [self.last_path])

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        if trainer.diverged:  # NaN validation loss: broken weights, keep the last good ones
            return
        paths = [self.last_path]
        if self.monitor is not None and self.monitor in record:  # no validation split: no best
            value = monitored(record, self.monitor)
            if improved(value, self.best, self.mode):
                self.best, self.best_epoch = value, record["epoch"]
                paths.append(self.best_path)
        self.save(trainer, paths)

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        if trainer.interrupted and not trainer.diverged:
            self.save(trainer, [self.last_path])

    def save(self, trainer: TrainingLoop, paths: list[Path]) -> None:
        metadata = self.metadata(trainer) if callable(self.metadata) else dict(self.metadata or {})
        metadata.update(epoch=trainer.epoch, step=trainer.step)
        data = serialize(trainer.state_dict(), metadata)
        for path in paths:
            atomic_write(path, data)
            self.saved.append(path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], int(state["best_epoch"])
