"""``ProgressBar``: what the lectures say to watch while babysitting a run, as it happens.

A tqdm bar per epoch shows the running loss and accuracy of the epoch, the learning rate and the speed in
images per second; after each epoch one line sums it up with the validation loss and accuracy (the numbers
to compare: a training accuracy far above the validation accuracy means overfitting). When the output is
not a terminal (a log file, CI) the bar is left out and only the epoch lines are printed. Lines go to
``stream`` (standard output by default), the bar to standard error.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING, Any, TextIO

from ember.train.callbacks.base import BatchLogs, Callback

if TYPE_CHECKING:
    from ember.train.trainer import Trainer


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """``epoch 3/10  train loss 0.3120 acc 88.90%  val loss 0.3010 acc 89.40%  lr 0.0412  41.2s``."""
    parts = [
        f"epoch {record['epoch']}/{epochs}",
        f"train loss {record['train_loss']:.4f} acc {100 * record['train_accuracy']:.2f}%",
    ]
    if "val_loss" in record:
        parts.append(f"val loss {record['val_loss']:.4f} acc {100 * record['val_accuracy']:.2f}%")
    parts.append(f"lr {record['lr']:.4g}")
    parts.append(f"{record['seconds']:.1f}s")
    return "  ".join(parts)


class ProgressBar(Callback):
    """tqdm bar per epoch (loss, accuracy, lr, images/s) and a summary line per epoch."""

    def __init__(
        self,
        stream: TextIO | None = None,
        bar: bool | None = None,
        refresh: float = 0.5,
        bar_stream: TextIO | None = None,
    ) -> None:
        self.stream = stream
        self.bar = bar
        self.refresh = refresh
        self.bar_stream = bar_stream
        self._tqdm: Any = None
        self._loss = self._correct = self._count = 0.0
        self._speed = 0.0

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

    def on_epoch_start(self, trainer: Trainer) -> None:
        self._loss = self._correct = self._count = 0.0
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
        self._tqdm.update(trainer._epoch_totals["batches"])

    def on_train_batch_end(self, trainer: Trainer, logs: BatchLogs) -> None:
        self._loss += logs.loss * logs.size
        self._correct += logs.correct
        self._count += logs.size
        if logs.seconds > 0:
            speed = logs.size / logs.seconds
            self._speed = speed if self._speed == 0 else 0.9 * self._speed + 0.1 * speed
        if self._tqdm is not None:
            postfix = {
                "loss": f"{self._loss / self._count:.4f}",
                "acc": f"{100 * self._correct / self._count:.2f}%",
                "lr": f"{logs.lr:.3g}",
                "img/s": f"{self._speed:.0f}",
            }
            self._tqdm.set_postfix(ordered_dict=postfix, refresh=False)
            self._tqdm.update(1)

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self._close()
        line = epoch_line(record, trainer.max_epochs)
        if self._speed:
            line += f"  {self._speed:.0f} img/s"
        self.write(line)

    def on_fit_end(self, trainer: Trainer) -> None:
        self._close()
        if trainer.stop_reason:
            self.write(("stopped: " if not trainer.diverged else "") + trainer.stop_reason)

    def _close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
