"""The progress bar: a line per epoch always, the tqdm bar (loss, accuracy, lr, images/s) on a terminal."""

from __future__ import annotations

import io
import re

from ember.train import ProgressBar

from .test_trainer import make_run


def test_epoch_lines_and_the_bar(tmp_path):
    lines, bar = io.StringIO(), io.StringIO()
    trainer, train, val = make_run(
        tmp_path, callbacks=[ProgressBar(stream=lines, bar=True, bar_stream=bar, refresh=0)]
    )
    trainer.fit(train, val, epochs=2)
    printed = lines.getvalue().splitlines()
    assert len(printed) == 2
    pattern = (
        r"epoch (\d)/2  train loss \d\.\d{4} acc \d+\.\d\d%  val loss \d\.\d{4} acc \d+\.\d\d%  "
        r"lr \S+  \d+\.\ds  \d+ img/s"
    )
    assert [int(re.fullmatch(pattern, line).group(1)) for line in printed] == [1, 2]
    drawn = bar.getvalue()
    assert "epoch 1/2" in drawn and "epoch 2/2" in drawn
    assert re.search(r"loss=\d\.\d{4}, acc=\d+\.\d\d%, lr=\S+, img/s=\d+", drawn)


def test_no_bar_when_the_output_is_not_a_terminal(tmp_path):
    lines, bar = io.StringIO(), io.StringIO()
    trainer, train, val = make_run(tmp_path, callbacks=[ProgressBar(stream=lines, bar_stream=bar)])
    trainer.fit(train, val, epochs=1)
    assert bar.getvalue() == "" and lines.getvalue().startswith("epoch 1/1  train loss")
