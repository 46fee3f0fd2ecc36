"""Each lab at a tiny size: the numbers behind its picture say what the lecture says (not the pixels)."""

from __future__ import annotations

import json

import pytest

from ember.cli import main
from ember.viz.labs import LABS, run_lab


def numbers(tmp_path, name):
    page = run_lab(name, tmp_path, tiny=True)
    assert page.exists() and page.read_text().count("data:image/png;base64,") >= 1
    return json.loads((tmp_path / name / "numbers.json").read_text())


def test_init_small_weights_collapse_large_ones_saturate_xavier_and_kaiming_keep_the_spread(tmp_path):
    found = numbers(tmp_path, "init")
    assert found["N(0, 0.01²), tanh"]["std"][-1] < 1e-4  # the lecture: all activations become zero
    assert found["saturated_share_layer_10_N(0,1)"] > 0.5  # tanh saturated at -1 and 1
    assert 0.05 < found["Xavier, tanh"]["std"][-1] < 0.6
    assert 0.3 < found["Kaiming, ReLU"]["std"][-1] < 3


def test_ember_lab_names_every_lab_and_writes_one(tmp_path, capsys):
    assert main(["lab", "init", "--tiny", "--output", str(tmp_path)]) == 0
    assert (tmp_path / "init" / "init.png").exists()
    assert capsys.readouterr().out.strip().endswith(f"lab init: {tmp_path / 'init' / 'index.html'}")
    with pytest.raises(SystemExit):
        main(["lab", "nonsense"])
    assert "playground" in capsys.readouterr().err and set(LABS) <= {
        "init",
        "optimizers",
        "schedules",
        "dropout",
        "batchnorm",
        "losses",
        "regularization",
    }
