"""The progress bar: the tqdm bar on a terminal; elsewhere, lines within each epoch; a line per epoch with
the epoch's real speed and the time left for the run."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

from ember.train import BatchLogs, ProgressBar

from .test_trainer import make_run

EPOCH_LINE = (
    r"epoch (\d)/2  train loss \d\.\d{4} acc \d+\.\d\d%  val loss \d\.\d{4} acc \d+\.\d\d%  "
    r"lr \S+  \d+\.\ds  \d+ img/s(  ETA \d+\.\d (s|min|h))?"
)


def test_epoch_lines_and_the_bar(tmp_path):
    lines, bar = io.StringIO(), io.StringIO()
    trainer, train, val = make_run(
        tmp_path, callbacks=[ProgressBar(stream=lines, bar=True, bar_stream=bar, refresh=0)]
    )
    trainer.fit(train, val, epochs=2)
    printed = lines.getvalue().splitlines()
    assert len(printed) == 2
    assert [int(re.fullmatch(EPOCH_LINE, line).group(1)) for line in printed] == [1, 2]
    assert "ETA" in printed[0] and "ETA" not in printed[1]  # nothing left after the last epoch
    drawn = bar.getvalue()
    assert "epoch 1/2" in drawn and "epoch 2/2" in drawn
    assert re.search(r"loss=\d\.\d{4}, acc=\d+\.\d\d%, lr=\S+, img/s=\d+, ETA=\d+\.\d (s|min)", drawn)


def test_no_bar_when_the_output_is_not_a_terminal(tmp_path):
    lines, bar = io.StringIO(), io.StringIO()
    trainer, train, val = make_run(tmp_path, callbacks=[ProgressBar(stream=lines, bar_stream=bar)])
    trainer.fit(train, val, epochs=1)
    assert bar.getvalue() == "" and lines.getvalue().startswith("epoch 1/1  train loss")


class Clock:
    """A clock that moves ``tick`` seconds each time it is read."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_lines_within_the_epoch_when_the_output_is_not_a_terminal(tmp_path):
    lines = io.StringIO()
    progress = ProgressBar(stream=lines, bar=False, log_every=30.0, clock=Clock(10.0))  # a step: 10 s
    trainer, train, val = make_run(tmp_path, callbacks=[progress])
    trainer.fit(train, val, epochs=2)  # 10 steps per epoch
    printed = lines.getvalue().splitlines()
    step_line = r"epoch (\d)/2  step (\d+)/10  loss \d\.\d{4} acc \d+\.\d\d%  lr \S+  \d+ img/s  ETA (.+)"
    steps = [re.fullmatch(step_line, line) for line in printed if "step" in line]
    assert [(int(m.group(1)), int(m.group(2))) for m in steps] == [
        (1, 3),
        (1, 6),
        (1, 9),
        (2, 3),
        (2, 6),
        (2, 9),
    ]
    # The time per step so far (10 s a step, and one more read of the clock at each epoch's end, for the
    # validation) times the steps left: 30 s / 3 * 17 = 170 s, ..., 140 s / 13 * 7 = 75 s, ...
    assert [m.group(3) for m in steps] == ["2.8 min", "2.3 min", "1.8 min", "1.3 min", "42.5 s", "10.5 s"]
    assert len(printed) == 8 and re.fullmatch(EPOCH_LINE, printed[3]) and re.fullmatch(EPOCH_LINE, printed[7])


def test_the_epoch_line_gives_the_epochs_own_speed():
    """All the epoch's images over all its time: not an average of the last steps."""
    lines = io.StringIO()
    progress = ProgressBar(stream=lines, bar=False, log_every=1e9, clock=Clock(1.0))
    trainer = SimpleNamespace(epoch=0, max_epochs=1, train_loader=None, stop_reason=None, diverged=False)
    progress.on_fit_start(trainer)
    progress.on_epoch_start(trainer)
    seconds = [1.0] * 8 + [0.25, 0.25]  # a slow start, two fast steps at the end
    for batch, duration in enumerate(seconds):
        logs = BatchLogs(batch + 1, 0, batch, len(seconds), 0.5, 0.5, 60, 100, 0.1, duration)
        progress.on_train_batch_end(trainer, logs)
    trainer.epoch = 1
    record = {"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.6, "lr": 0.1, "seconds": 8.5}
    progress.on_epoch_end(trainer, record)
    assert lines.getvalue().endswith("  8.5s  118 img/s\n")  # 1,000 images in 8.5 s (a moving average: 194)


def test_epoch_lines_show_the_tasks_measures_and_no_accuracy_it_does_not_count():
    """A detector counts no accuracy and has no validation loss: its line has the loss and the validation
    mAP; a segmentation's has its pixel accuracy and its mIoU too; classification's keeps its top-5 out."""
    from ember.train.callbacks.progress import epoch_line

    detection = {
        "epoch": 2, "train_loss": 0.8123, "train_loss_classifier": 0.5, "train_loss_box_reg": 0.3123,
        "val_map50": 0.9012, "val_map": 0.5, "lr": 0.02, "seconds": 3,
    }  # fmt: skip
    assert epoch_line(detection, 3) == (
        "epoch 2/3  train loss 0.8123 (classifier 0.5000, box_reg 0.3123)  val map50 0.9012 map 0.5000  "
        "lr 0.02  3.0s"
    )
    segment = {
        "epoch": 1, "train_loss": 0.2, "train_accuracy": 0.9, "val_loss": 0.25, "val_accuracy": 0.875,
        "val_miou": 0.61, "lr": 0.001, "seconds": 1.5,
    }  # fmt: skip
    assert epoch_line(segment, 8) == (
        "epoch 1/8  train loss 0.2000 acc 90.00%  val loss 0.2500 acc 87.50% miou 0.6100  lr 0.001  1.5s"
    )
    classify = {**segment, "val_top5": 0.99}
    del classify["val_miou"]
    assert "top5" not in epoch_line(classify, 8)


def test_the_step_line_has_no_accuracy_when_the_task_counts_none():
    lines = io.StringIO()
    progress = ProgressBar(stream=lines, bar=False, log_every=0.0, clock=Clock(1.0))
    trainer = SimpleNamespace(epoch=0, max_epochs=1, train_loader=None, stop_reason=None, diverged=False)
    progress.on_fit_start(trainer)
    progress.on_epoch_start(trainer)
    progress.on_train_batch_end(trainer, BatchLogs(1, 0, 0, 2, 1.25, 1.25, None, 16, 0.02, 1.0))
    assert re.fullmatch(r"epoch 1/1  step 1/2  loss 1\.2500  lr 0\.02  16 img/s  ETA .+\n", lines.getvalue())
