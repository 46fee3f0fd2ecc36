"""``MetricLogger``: the run's numbers in files that any tool can read.

- ``metrics.csv`` and ``metrics.jsonl``: one row per epoch (training and validation loss and accuracy, the
  learning rate, the time), the data behind the "beyond training error" curves;
- ``steps.csv``: one row per step (loss, batch accuracy, learning rate, images per second), the data
  behind the learning-rate and loss-per-iteration plots;
- TensorBoard event files in ``tensorboard/``, if the optional ``tensorboard`` package is installed.

On a resumed run the files are rewritten up to the checkpoint (the epoch history travels in the checkpoint;
steps after it are dropped), so a run that was killed and resumed leaves the same files as one that was not.
Every step's row is flushed to the file before the step's checkpoint can be written, so the file always
holds the rows up to the last checkpoint, whenever the process is killed. The rewrites are atomic
(``ember.atomic``) and a full disk or a read-only folder raises ``ember.atomic.WriteError`` naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ember.atomic import atomic_write, writing
from ember.train.callbacks.base import BatchLogs, Callback, TrainingLoop

EPOCH_COLUMNS = [
    "epoch",
    "step",
    "lr",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "val_top5",
    "seconds",
]
STEP_COLUMNS = ["step", "epoch", "loss", "accuracy", "lr", "images_per_second"]


def _number(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value).lower()
    return "" if value is None else str(value)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV file's text: the header, then one line per row (numbers written exactly, see ``_number``)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([_number(value) for value in row] for row in rows)
    return buffer.getvalue()


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """Rows of a metrics file as dicts of floats (empty cells left out); [] if the file is missing."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                rows.append({key: float(value) for key, value in row.items() if key and value})
            except (TypeError, ValueError):  # a line cut short by a killed process
                continue
    return rows


class TensorBoardWriter:
    """Scalars to TensorBoard event files through the ``tensorboard`` package (only if it is installed)."""

    def __init__(self, directory: Path) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        self.writer = EventFileWriter(str(directory))

    def scalar(self, tag: str, value: float, step: int) -> None:
        import time

        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=float(value))])
        self.writer.add_event(self._event(wall_time=time.time(), step=step, summary=summary))

    def close(self) -> None:
        self.writer.close()


def tensorboard_available() -> bool:
    try:
        import tensorboard.summary.writer.event_file_writer  # noqa: F401
    except ImportError:
        return False
    return True


class MetricLogger(Callback):
    """Write per-epoch and per-step metrics under ``directory`` (CSV, JSON lines, TensorBoard if present)."""

    def __init__(self, directory: str | os.PathLike[str], tensorboard: bool | None = None) -> None:
        self.directory = Path(directory)
        self.tensorboard = tensorboard_available() if tensorboard is None else tensorboard
        self._steps: Any = None
        self._steps_writer: Any = None
        self._board: TensorBoardWriter | None = None

    @property
    def epochs_csv(self) -> Path:
        return self.directory / "metrics.csv"

    @property
    def epochs_jsonl(self) -> Path:
        return self.directory / "metrics.jsonl"

    @property
    def steps_csv(self) -> Path:
        return self.directory / "steps.csv"

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        kept = [
            {**row, "step": int(row["step"]), "epoch": int(row.get("epoch", 0))}
            for row in read_csv(self.steps_csv)
            if row.get("step", math.inf) <= trainer.step
        ]
        epochs = ([record.get(column) for column in EPOCH_COLUMNS] for record in trainer.history)
        atomic_write(self.epochs_csv, csv_text(EPOCH_COLUMNS, epochs))
        atomic_write(self.epochs_jsonl, "".join(json.dumps(record) + "\n" for record in trainer.history))
        steps = ([row.get(column) for column in STEP_COLUMNS] for row in kept)
        atomic_write(self.steps_csv, csv_text(STEP_COLUMNS, steps))
        with writing(self.steps_csv):
            self._steps = open(self.steps_csv, "a", newline="")  # noqa: SIM115 - open for the whole run
        self._steps_writer = csv.writer(self._steps)
        if self.tensorboard:
            self._board = TensorBoardWriter(self.directory / "tensorboard")

    def on_train_batch_end(self, trainer: TrainingLoop, logs: BatchLogs) -> None:
        speed = logs.size / logs.seconds if logs.seconds > 0 else math.nan
        accuracy = None if logs.correct is None else logs.correct / max(logs.size, 1)
        row = [logs.step, logs.epoch + 1, logs.loss, accuracy, logs.lr, round(speed, 1)]
        with writing(self.steps_csv):
            self._steps_writer.writerow([_number(value) for value in row])
            self._steps.flush()  # before this step's checkpoint (the checkpoint callback comes last)
        if self._board is not None:
            self._board.scalar("train/loss_step", logs.loss, logs.step)
            self._board.scalar("train/lr", logs.lr, logs.step)

    def on_epoch_end(self, trainer: TrainingLoop, record: dict[str, Any]) -> None:
        with writing(self.epochs_csv), open(self.epochs_csv, "a", newline="") as handle:
            csv.writer(handle).writerow([_number(record.get(column)) for column in EPOCH_COLUMNS])
        with writing(self.epochs_jsonl), open(self.epochs_jsonl, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._board is not None:
            for key, value in record.items():
                if key not in ("epoch", "step") and isinstance(value, int | float):
                    group, _, name = key.partition("_")  # train_loss -> train/loss, lr -> epoch/lr
                    tag = f"{group}/{name}" if name else f"epoch/{key}"
                    self._board.scalar(tag, value, record["epoch"])
            self._board.writer.flush()

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        if self._steps is not None:
            with contextlib.suppress(OSError):  # every row was flushed (or its failure reported) already
                self._steps.close()
            self._steps = None
        if self._board is not None:
            self._board.close()
            self._board = None
