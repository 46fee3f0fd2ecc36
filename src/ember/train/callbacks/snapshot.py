"""``SnapshotEnsemble``: save the model at the end of every learning-rate cycle (Huang et al. 2017).

*Snapshot Ensembles: Train 1, get M for free* (ICLR 2017): train one model with a cyclic schedule that
restarts the learning rate (SGDR, ``CosineAnnealingWarmRestarts``); at the bottom of each cycle the model
sits in a different local minimum, so the snapshots taken there are an ensemble for the price of one run.
A cycle ends where the learning rate is at a local minimum: the step's rate is below the one before it
and the next one is higher (a warm restart), which works for any cyclic schedule stepped per step or per
epoch, and not at the rising ramp of a warm-up. The run's end is the end of its last cycle.

Snapshots are model weights with the run's metadata (``snapshot-01.safetensors``, ...), so ``ember eval``
and ``ember predict`` read them like checkpoints, alone or as an ensemble of the last M.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ember.train.callbacks.base import BatchLogs, Callback, TrainingLoop
from ember.train.checkpoint import SUFFIX, save_checkpoint

PREFIX = "snapshot-"


class SnapshotEnsemble(Callback):
    """Save ``directory/snapshot-NN.safetensors`` at each cycle's end (a warm restart) and the run's end."""

    order = 90  # before ModelCheckpoint, which saves this callback's state

    def __init__(self, directory: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
        self.directory = Path(directory)
        self.metadata = dict(metadata or {})
        self.count = 0  # snapshots saved
        self.saved_step = -1  # the step of the last snapshot
        self.previous_lr: float | None = None  # the rate of the step before the last one

    @property
    def paths(self) -> list[Path]:
        """The snapshots saved so far, oldest first (ensemble the last M: ``paths[-M:]``)."""
        return [self.directory / f"{PREFIX}{index:02d}{SUFFIX}" for index in range(1, self.count + 1)]

    def _watch(self, trainer: TrainingLoop, used: float) -> None:
        """``used``: the rate of the step just taken; ``trainer.lr``: the rate of the next one."""
        if self.previous_lr is not None and used < self.previous_lr and trainer.lr > used:
            self.save(trainer)
        self.previous_lr = used

    def on_train_batch_end(self, trainer: TrainingLoop, logs: BatchLogs) -> None:
        if trainer.scheduler_interval == "step":
            self._watch(trainer, logs.lr)

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        if trainer.scheduler_interval == "epoch" and not trainer.diverged:
            self._watch(trainer, record["lr"])

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        if trainer.finished and not trainer.diverged and trainer.step != self.saved_step:
            self.save(trainer)

    def save(self, trainer: TrainingLoop) -> Path:
        self.count += 1
        self.saved_step = trainer.step
        path = self.paths[-1]
        metadata = {**self.metadata, "epoch": trainer.epoch, "step": trainer.step, "snapshot": self.count}
        return save_checkpoint(path, {"model": trainer.model.state_dict()}, metadata)

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "saved_step": self.saved_step, "previous_lr": self.previous_lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count, self.saved_step = int(state["count"]), int(state["saved_step"])
        self.previous_lr = state["previous_lr"]
