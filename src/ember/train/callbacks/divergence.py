"""``DivergenceGuard``: stop the run the moment the loss stops being a number.

The lectures' diagnosis: "loss explodes to Inf or NaN? learning rate too high, bad initialization". Once a
NaN reaches the weights every later step is NaN too, so training on is wasted time, and saving would
overwrite a good checkpoint with a broken one. The guard stops the run at the first non-finite loss; the
checkpoint callback saves nothing after a divergence, so the last good checkpoint stays on disk.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ember.train.callbacks.base import BatchLogs, Callback

if TYPE_CHECKING:
    from ember.train.trainer import Trainer


def divergence_message(value: float, step: int) -> str:
    kind = "NaN" if math.isnan(value) else "Inf" if value > 0 else "-Inf"
    return (
        f"loss is {kind} at step {step}: the learning rate is probably too high, or the initialization is bad"
    )


class DivergenceGuard(Callback):
    """Stops training at the first NaN or infinite loss, with the lectures' diagnosis as the reason."""

    order = -100  # before anything else looks at the step

    def __init__(self) -> None:
        self.message: str | None = None

    def on_train_batch_end(self, trainer: Trainer, logs: BatchLogs) -> None:
        value = logs.objective if not math.isfinite(logs.objective) else logs.loss
        if not math.isfinite(value):
            self.message = divergence_message(value, logs.step)
            trainer.stop(self.message, diverged=True)
