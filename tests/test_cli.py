"""The ``ember`` command."""

from __future__ import annotations

import re

from ember.cli import main


def test_demo_trains_with_the_loss_falling(capsys):
    assert main(["demo", "--steps", "400"]) == 0
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", capsys.readouterr().out)]
    assert len(losses) == 11 and losses[-1] < 0.5 * losses[0]
