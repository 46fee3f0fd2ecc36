"""``Monitor``: the layer statistics during training, once per epoch (``ember train --monitor``).

Babysitting a run means watching more than the loss. Near the end of each epoch the monitor hooks every
layer (``statistics.Collector``) for the epoch's last ``batches`` steps, the real steps of the run: each
layer's mean and spread, the share of dead ReLUs and of saturated sigmoid/tanh outputs, the gradient
norm of each weight and the update-to-weight ratio of each step (~1e-3 is healthy, per the lectures). One
line per epoch goes to ``RUN/monitor.jsonl``, scalars to TensorBoard (``RUN/tensorboard/monitor``) when
it is installed, and a warning to the progress output the first time a problem appears::

    monitor: layer features.6: 97% of ReLUs dead (never positive on any of 256 images): ...

At the end of the run the problems still there are listed with the epoch they appeared in ("since epoch
3"). After the first epoch an update/weight ratio above 0.1 is "too high"; once the schedule has decayed the
rate below a tenth of its start, small updates are what it asked for and are not called "too low".

The monitor only watches (hooks and copies), with no change to the model, the optimizer or the random
numbers, so a monitored run computes the same weights as one that is not.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ember.atomic import atomic_write, writing
from ember.train.callbacks.base import BatchLogs, Callback, TrainingLoop
from ember.train.callbacks.logging import TensorBoardWriter, tensorboard_available
from ember.train.doctor.reading import ACTIVATIONS, RATIO_HIGH, RATIO_LOW, layer_problems, parameter_problems
from ember.train.doctor.statistics import Collector, LayerStats, ParameterWatch

MONITOR_FILE = "monitor.jsonl"
RATIO_HIGH_TRAINING = 0.1  # two orders above the ~1e-3 rule of thumb, once the first epoch is done


def read_monitor(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``RUN/monitor.jsonl`` (none if the run was not monitored)."""
    path = Path(directory) / MONITOR_FILE
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:  # a line cut short by a killed process
            continue
    return records


class Monitor(Callback):
    """Layer statistics over the last ``batches`` steps of each epoch, logged and judged.

    ``directory``: where ``monitor.jsonl`` goes (None: not written); ``echo``: where warnings are printed
    (the progress bar's ``write`` in ``ember train``); ``tensorboard``: None to use it if installed.
    """

    order = 10  # after the progress bar and the logger have seen the step

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        batches: int = 2,
        echo: Callable[[str], None] = print,
        tensorboard: bool | None = None,
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.batches, self.echo = batches, echo
        self.tensorboard = tensorboard_available() if tensorboard is None else tensorboard
        self.records: list[dict[str, Any]] = []
        self.since: dict[str, int] = {}  # problem key -> the epoch it appeared in
        self.active: dict[str, str] = {}  # problem key -> its latest text
        self._collector: Collector | None = None
        self._watch: ParameterWatch | None = None
        self._layers: list[LayerStats] = []
        self._images = 0
        self._board: TensorBoardWriter | None = None

    # ----------------------------------------------------------------------------------------------
    # Hooks on and off around the epoch's last steps
    def _start(self, trainer: TrainingLoop) -> None:
        self._collector = Collector(trainer.model)
        self._watch = ParameterWatch(trainer.model, trainer.optimizer)
        self._watch.before_step()
        self._images = 0

    def _stop(self) -> None:
        if self._collector is not None:
            self._layers = self._collector.remove()
            self._collector = None

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        if self.directory is not None:
            kept = [record for record in read_monitor(self.directory) if record["epoch"] <= trainer.epoch]
            text = "".join(json.dumps(record) + "\n" for record in kept)
            atomic_write(self.directory / MONITOR_FILE, text)
            self.records = kept
            if self.tensorboard:
                self._board = TensorBoardWriter(self.directory / "tensorboard" / "monitor")

    def on_epoch_start(self, trainer: TrainingLoop) -> None:
        self._layers = []
        if trainer.train_loader is not None and len(trainer.train_loader) <= self.batches:
            self._start(trainer)

    def on_train_batch_end(self, trainer: TrainingLoop, logs: BatchLogs) -> None:
        if self._collector is not None and self._watch is not None:
            self._watch.after_step()
            self._images += logs.size
            if logs.batch + 1 >= logs.batches:
                self._stop()
            else:
                self._watch.before_step()
        elif logs.batch + 1 == logs.batches - self.batches:  # hook the epoch's last steps
            self._start(trainer)

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        self._stop()
        if not self._layers or self._watch is None:
            return
        parameters = self._watch.result()
        self._watch = None
        layers = [layer for layer in self._layers if layer.kind in ACTIVATIONS]
        weights = [p for p in parameters if p.is_weight]
        entry = {
            "epoch": record["epoch"],
            "step": record["step"],
            "images": self._images,
            "layers": {
                layer.name: [layer.mean, layer.std, layer.dead, layer.saturated, layer.grad_rms]
                for layer in layers
            },
            "gradients": {p.name: [p.grad_norm, p.weight_norm] for p in weights},
            "update_ratios": {p.name: p.update_ratio for p in weights if p.update_ratio is not None},
        }
        self.records.append(entry)
        self._write(entry)
        self._judge(trainer, entry["epoch"], layers, parameters)

    def _write(self, entry: dict[str, Any]) -> None:
        if self.directory is not None:
            path = self.directory / MONITOR_FILE
            with writing(path), open(path, "a") as handle:
                handle.write(json.dumps(entry) + "\n")
        if self._board is not None:
            epoch = entry["epoch"]
            for name, (_, std, dead, saturated, _) in entry["layers"].items():
                self._board.scalar(f"activation_std/{name}", std, epoch)
                if dead is not None:
                    self._board.scalar(f"dead_relus/{name}", dead, epoch)
                if saturated is not None:
                    self._board.scalar(f"saturated/{name}", saturated, epoch)
            for name, (norm, _) in entry["gradients"].items():
                if norm is not None and math.isfinite(norm):
                    self._board.scalar(f"grad_norm/{name}", norm, epoch)
            for name, ratio in entry["update_ratios"].items():
                if math.isfinite(ratio):
                    self._board.scalar(f"update_ratio/{name}", ratio, epoch)
            self._board.writer.flush()

    @staticmethod
    def _annealed(trainer: Any) -> bool:
        """The schedule has brought the rate below a tenth of where it started."""
        group = trainer.optimizer.param_groups[0]
        return float(group["lr"]) < 0.1 * float(group.get("initial_lr", group["lr"]))

    def _judge(self, trainer: Any, epoch: int, layers: list[LayerStats], parameters: list[Any]) -> None:
        problems = layer_problems(layers, math.nan, self._images)
        # A schedule that has annealed the rate (cosine ends at 0) means small updates: not "too low" then.
        ratio_low = 0.0 if self._annealed(trainer) else RATIO_LOW
        problems += parameter_problems(
            parameters, RATIO_HIGH_TRAINING if epoch > 1 else RATIO_HIGH, ratio_low
        )
        current = dict(problems)
        for key, text in current.items():
            if key not in self.since:
                self.since[key] = epoch
                self.echo(f"monitor: {text}")
        for key in list(self.since):
            if key not in current:
                del self.since[key]
        self.active = current

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        self._stop()
        self._watch = None
        if self._board is not None:
            self._board.close()
            self._board = None
        for key, text in self.active.items():
            headline = text.split(" (")[0].split("; ")[0]
            self.echo(f"monitor: {headline} since epoch {self.since[key]}")

    def state_dict(self) -> dict[str, Any]:
        return {"since": dict(self.since)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.since = {key: int(value) for key, value in state.get("since", {}).items()}
