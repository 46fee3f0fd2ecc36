"""``ProgressBar``: what the lectures say to watch while babysitting a run, as it happens.

On a terminal, a tqdm bar per epoch shows the running loss and accuracy of the epoch, the learning rate,
the epoch's speed in images per second and the time left for the whole run. When the output is not a
terminal (a log file, CI, a job scheduler) there is no bar; a line is printed instead every ``log_every``
seconds within the epoch (as Keras and tqdm do in logs), so a log never stays silent for long::

    epoch 2/8  step 150/430  loss 0.4123 acc 85.20%  lr 0.0412  301 img/s  ETA 6.2 min

After each epoch one line sums it up with the validation loss and accuracy (the numbers to compare: a
training accuracy far above the validation accuracy means overfitting) and the task's other validation
measures (a segmentation's ``miou``, a detector's box ``map50``: those of the record's ``val_*`` keys), the
epoch's images per second
(all its images over all its training time, not a recent average) and the time left for the run, from
the average time per step so far (validation included). Lines go to ``stream`` (standard output by
default), the bar to standard error.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from ember.train.callbacks.base import BatchLogs, Callback, TrainingLoop


def duration(seconds: float) -> str:
    """``41.2 s``, ``6.2 min``, ``2.4 h``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


SHOWN_AS_PERCENT = ("val_loss", "val_accuracy", "val_top5")  # the classification line's own


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """``epoch 3/10  train loss 0.3120 acc 88.90%  val loss 0.3010 acc 89.40%  lr 0.0412  41.2s``; a
    measure the task does not count is left out (a detector: no accuracy, no validation loss), a detector's
    loss terms follow its loss (``train loss 0.8 (classifier 0.3, box_reg 0.2, ...)``), the task's other
    validation measures follow the validation loss (``val miou 0.7012``, ``val map50 0.9012``)."""
    parts = [f"epoch {record['epoch']}/{epochs}", f"train loss {record['train_loss']:.4f}"]
    terms = [f"{key[11:]} {value:.4f}" for key, value in record.items() if key.startswith("train_loss_")]
    if terms:  # a detector's losses, whose sum is the loss
        parts[-1] += f" ({', '.join(terms)})"
    if record.get("train_accuracy") is not None:
        parts[-1] += f" acc {100 * record['train_accuracy']:.2f}%"
    validation = []
    if record.get("val_loss") is not None:
        validation.append(f"loss {record['val_loss']:.4f}")
    if record.get("val_accuracy") is not None:
        validation.append(f"acc {100 * record['val_accuracy']:.2f}%")
    validation += [
        f"{key[4:]} {value:.4f}"
        for key, value in record.items()
        if key.startswith("val_") and key not in SHOWN_AS_PERCENT and isinstance(value, int | float)
    ]
    if validation:
        parts.append("val " + " ".join(validation))
    parts.append(f"lr {record['lr']:.4g}")
    parts.append(f"{record['seconds']:.1f}s")
    return "  ".join(parts)


class ProgressBar(Callback):
    """tqdm bar per epoch on a terminal, lines every ``log_every`` seconds elsewhere, a line per epoch.

    ``clock`` (seconds, ``time.monotonic`` by default) measures the time left and the spacing of lines.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        bar: bool | None = None,
        refresh: float = 0.5,
        bar_stream: TextIO | None = None,
        log_every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.bar = bar
        self.refresh = refresh
        self.bar_stream = bar_stream
        self.log_every = log_every
        self.clock = clock
        self._tqdm: Any = None
        self._loss = self._count = self._seconds = 0.0
        self._correct: float | None = 0.0  # None: the task counts no accuracy
        self._started = self._last_line = 0.0
        self._steps = 0  # steps taken since fit started (in this process)
        self._batches = 0  # steps in a full epoch

    @property
    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    @property
    def _bar_out(self) -> TextIO:
        return self.bar_stream if self.bar_stream is not None else sys.stderr

    def _bar_enabled(self) -> bool:
        if self.bar is not None:
            return self.bar
        if importlib.util.find_spec("tqdm") is None:  # the train extra is not installed: lines only
            return False
        return bool(getattr(self._bar_out, "isatty", lambda: False)())

    def write(self, line: str) -> None:
        if self._tqdm is not None:
            self._tqdm.clear()
        print(line, file=self._out, flush=True)
        if self._tqdm is not None:
            self._tqdm.refresh()

    @property
    def speed(self) -> float:
        """The epoch's images per second so far: all its images over all its training time."""
        return self._count / self._seconds if self._seconds > 0 else 0.0

    def time_left(self, remaining_steps: int, now: float) -> float | None:
        """Seconds to the end of the run, from the average time per step (validation included) so far."""
        if self._steps == 0 or remaining_steps <= 0:
            return None
        return (now - self._started) / self._steps * remaining_steps

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        self._started = self._last_line = self.clock()
        self._steps = 0

    def on_epoch_start(self, trainer: TrainingLoop) -> None:
        self._loss = self._count = self._seconds = 0.0
        self._correct = 0.0
        if not self._bar_enabled():
            return
        from tqdm import tqdm

        total = len(trainer.train_loader) if trainer.train_loader is not None else None
        self._tqdm = tqdm(
            total=total,
            desc=f"epoch {trainer.epoch + 1}/{trainer.max_epochs}",
            file=self._bar_out,
            mininterval=self.refresh,
            leave=False,
            dynamic_ncols=True,
            unit="step",
        )
        self._tqdm.update(trainer.batches_done)

    def on_train_batch_end(self, trainer: TrainingLoop, logs: BatchLogs) -> None:
        self._loss += logs.loss * logs.size
        self._correct = (
            None if logs.correct is None or self._correct is None else self._correct + logs.correct
        )
        self._count += logs.size
        self._seconds += logs.seconds
        self._steps += 1
        self._batches = logs.batches
        now = self.clock()
        remaining = (trainer.max_epochs - logs.epoch - 1) * logs.batches + logs.batches - logs.batch - 1
        left = self.time_left(remaining, now)
        loss = self._loss / self._count
        accuracy = None if self._correct is None else f"{100 * self._correct / self._count:.2f}%"
        if self._tqdm is not None:
            postfix = {"loss": f"{loss:.4f}", **({"acc": accuracy} if accuracy else {})}
            postfix.update({"lr": f"{logs.lr:.3g}", "img/s": f"{self.speed:.0f}"})
            if left is not None:
                postfix["ETA"] = duration(left)
            self._tqdm.set_postfix(ordered_dict=postfix, refresh=False)
            self._tqdm.update(1)
        elif now - self._last_line >= self.log_every:
            line = (
                f"epoch {logs.epoch + 1}/{trainer.max_epochs}  step {logs.batch + 1}/{logs.batches}  "
                f"loss {loss:.4f}{f' acc {accuracy}' if accuracy else ''}  lr {logs.lr:.4g}  "
                f"{self.speed:.0f} img/s"
            )
            self.write(line + (f"  ETA {duration(left)}" if left is not None else ""))
            self._last_line = now

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        self._close()
        now = self.clock()
        line = epoch_line(record, trainer.max_epochs)
        if self.speed:
            line += f"  {self.speed:.0f} img/s"
        left = self.time_left((trainer.max_epochs - trainer.epoch) * self._batches, now)
        if left is not None:
            line += f"  ETA {duration(left)}"
        self.write(line)
        self._last_line = now

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        self._close()
        if trainer.stop_reason:
            self.write(("stopped: " if not trainer.diverged else "") + trainer.stop_reason)

    def _close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
