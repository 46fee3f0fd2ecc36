"""``DivergenceGuard``: stop the run the moment the loss stops being a number.

The lectures' diagnosis: "loss explodes to Inf or NaN? learning rate too high, bad initialization". Once a
NaN reaches the weights every later step is NaN too, so training on is wasted time, and saving would
overwrite a good checkpoint with a broken one. The guard stops the run at the first non-finite loss, or
after an epoch whose validation loss is not finite (weights grown so large that the scores overflow,
while the training loss is still a number); the checkpoint callback saves nothing after a divergence, so
the last good checkpoint stays on disk. The diagnosis is the run's ``stop_reason``, printed once by the
progress callback.
"""

from __future__ import annotations

import math
from typing import Any

from ember.train.callbacks.base import BatchLogs, Callback, TrainingLoop


def divergence_message(value: float, step: int, epoch: int | None = None) -> str:
    """``loss is NaN at step 6: ...``; for a validation loss ``validation loss is Inf after epoch 1 ...``."""
    kind = "NaN" if math.isnan(value) else "Inf" if value > 0 else "-Inf"
    where = f"loss is {kind} at step {step}"
    if epoch is not None:
        where = f"validation loss is {kind} after epoch {epoch} (step {step})"
    return f"{where}: the learning rate is probably too high, or the initialization is bad"


class DivergenceGuard(Callback):
    """Stops training at the first NaN or infinite loss, with the lectures' diagnosis as the reason."""

    order = -100  # before anything else looks at the step

    def __init__(self) -> None:
        self.message: str | None = None

    def on_train_batch_end(self, trainer: TrainingLoop, logs: BatchLogs) -> None:
        value = logs.objective if not math.isfinite(logs.objective) else logs.loss
        if not math.isfinite(value):
            self.message = divergence_message(value, logs.step)
            trainer.stop(self.message, diverged=True)

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        value = float(record.get("val_loss", 0.0))
        if not math.isfinite(value):
            self.message = divergence_message(value, record["step"], record["epoch"])
            trainer.stop(self.message, diverged=True)
