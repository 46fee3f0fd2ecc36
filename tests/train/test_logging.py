"""Metric logs: CSV and JSON lines per epoch, CSV per step, TensorBoard events when the package is there."""

from __future__ import annotations

import json

import pytest

from ember.train import Callback, MetricLogger
from ember.train.callbacks import read_csv
from ember.train.callbacks.logging import EPOCH_COLUMNS, STEP_COLUMNS

from .test_trainer import make_run


def test_epoch_and_step_files(tmp_path):
    trainer, train, val = make_run(tmp_path)
    history = trainer.fit(train, val, epochs=2)
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == EPOCH_COLUMNS
    rows = read_csv(tmp_path / "metrics.csv")
    assert [row["val_accuracy"] for row in rows] == [record["val_accuracy"] for record in history]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == history
    steps = read_csv(tmp_path / "steps.csv")
    assert (tmp_path / "steps.csv").read_text().splitlines()[0].split(",") == STEP_COLUMNS
    assert [row["step"] for row in steps] == list(range(1, 21))
    assert [row["epoch"] for row in steps] == [1] * 10 + [2] * 10
    assert steps[0]["lr"] == 0.05 and steps[-1]["lr"] < steps[0]["lr"]  # the cosine schedule, per step
    assert all(0 <= row["accuracy"] <= 1 and row["images_per_second"] > 0 for row in steps)


def test_each_steps_row_is_on_disk_before_that_steps_checkpoint(tmp_path):
    """A process killed after a mid-epoch checkpoint must not lose the rows up to it."""
    rows_on_disk = []

    class ReadTheLog(Callback):
        order = 99  # last but the checkpoint callback (100)

        def on_train_batch_end(self, trainer, logs):
            rows_on_disk.append(len(read_csv(tmp_path / "steps.csv")))

    trainer, train, val = make_run(tmp_path, callbacks=[ReadTheLog()])
    trainer.fit(train, val, epochs=1)
    assert rows_on_disk == list(range(1, 11))


def test_a_line_cut_short_by_a_kill_is_skipped(tmp_path):
    (tmp_path / "steps.csv").write_text("step,epoch,loss\n1,1,2.3\n2,1,2.2\n3,1,2.")
    (tmp_path / "bad.csv").write_text("step,epoch,loss\n1,1,2.3\n2,x,2.2\n")
    assert len(read_csv(tmp_path / "steps.csv")) == 3  # "2." is a number
    assert read_csv(tmp_path / "bad.csv") == [{"step": 1.0, "epoch": 1.0, "loss": 2.3}]
    assert read_csv(tmp_path / "missing.csv") == []


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    trainer, train, val = make_run(tmp_path)
    assert any(isinstance(c, MetricLogger) and c.tensorboard for c in trainer.callbacks)
    trainer.fit(train, val, epochs=2)
    (events,) = (tmp_path / "tensorboard").iterdir()
    tags: dict[str, list[int]] = {}
    for event in EventFileLoader(str(events)).Load():
        for value in event.summary.value:
            tags.setdefault(value.tag, []).append(event.step)
    assert tags["train/loss_step"] == list(range(1, 21)) and tags["train/lr"] == list(range(1, 21))
    assert tags["val/accuracy"] == [1, 2] and tags["train/loss"] == [1, 2] and tags["epoch/lr"] == [1, 2]
