"""``WeightAveraging``: keep an ``AveragedModel`` of the model being trained (EMA or SWA) beside the loop.

Polyak / EMA averaging updates the average after every step (``every="step"``, with
``multi_avg_fn=get_ema_multi_avg_fn(decay)``); stochastic weight averaging (Izmailov et al. 2018) after each
epoch from ``start_epoch`` on (``every="epoch"``, equal weights, usually with ``SWALR`` or a cyclic rate).
The trained model is not touched: the average is ``callback.averaged``, to evaluate or save after the run;
with batch norm, recompute its statistics first (``ember.optim.swa_utils.update_bn``) unless the average
covers the buffers (``use_buffers=True``).
"""

from __future__ import annotations

from typing import Any

from ember.nn.module import Module
from ember.optim.swa_utils import AveragedModel, MultiAvgFn
from ember.train.callbacks.base import BatchLogs, Callback, TrainingLoop

EVERY = ("step", "epoch")


class WeightAveraging(Callback):
    """Average the trained model's weights into ``self.averaged`` every step or epoch from ``start_epoch``."""

    def __init__(
        self,
        model: Module,
        multi_avg_fn: MultiAvgFn | None = None,
        every: str = "step",
        start_epoch: int = 0,
        use_buffers: bool = False,
    ) -> None:
        if every not in EVERY:
            raise ValueError(f"WeightAveraging: every must be 'step' or 'epoch', got {every!r}")
        self.averaged = AveragedModel(model, multi_avg_fn=multi_avg_fn, use_buffers=use_buffers)
        self.every, self.start_epoch = every, start_epoch

    def on_train_batch_end(self, trainer: TrainingLoop, logs: BatchLogs) -> None:
        if self.every == "step" and logs.epoch >= self.start_epoch:
            self.averaged.update_parameters(trainer.model)

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        if self.every == "epoch" and record["epoch"] > self.start_epoch and not trainer.diverged:
            self.averaged.update_parameters(trainer.model)

    def state_dict(self) -> dict[str, Any]:
        return {"averaged": self.averaged.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.averaged.load_state_dict(state["averaged"])
