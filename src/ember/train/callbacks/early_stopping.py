"""``EarlyStopping``: "stop training the model when accuracy on the validation set decreases".

Validation accuracy is noisy from one epoch to the next, so a single dip is not the end: the run stops when
the monitored value has not improved (by more than ``min_delta``) for ``patience`` epochs in a row. The
best epoch's weights are kept by the checkpoint callback (``best.safetensors``), which is the model to use:
the one that did best on held-out data, not the last one trained.
"""

from __future__ import annotations

import math
from typing import Any

from ember.train.callbacks.base import Callback, TrainingLoop

MODES = ("max", "min")


def improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (``mode`` 'max' or 'min')."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


def monitored(record: dict[str, Any], monitor: str) -> float:
    if monitor not in record:
        raise KeyError(
            f"cannot monitor '{monitor}': the epoch record has {sorted(record)} "
            "(validation metrics need a validation loader)"
        )
    return float(record[monitor])


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs."""

    def __init__(
        self, monitor: str = "val_accuracy", patience: int = 3, mode: str = "max", min_delta: float = 0.0
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"EarlyStopping: mode must be 'max' or 'min', got {mode!r}")
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be at least 1, got {patience}")
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, min_delta
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        value = monitored(record, self.monitor)
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, record["epoch"], 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop(
                f"early stopping: {self.monitor} has not improved for {self.patience} epochs "
                f"(best {self.best:.4f} at epoch {self.best_epoch})"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], int(state["best_epoch"]), int(state["wait"])
