"""Each lab at a tiny size: the numbers behind its picture say what the lecture says (not the pixels)."""

from __future__ import annotations

import json

import numpy as np
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


def test_optimizers_adam_beats_sgd_on_the_quadratic_and_momentum_rolls_past_the_local_minimum(tmp_path):
    found = numbers(tmp_path, "optimizers")
    quadratic = found["ill-conditioned quadratic"]
    assert quadratic["Adam"]["steps_to_minimum"] is not None
    assert quadratic["SGD"]["steps_to_minimum"] is None  # not within the tiny run's 100 steps
    local = found["local minimum"]
    assert local["momentum"]["final_point"][0] < -0.9 < 0.5 < local["SGD"]["final_point"][0]
    assert (tmp_path / "optimizers" / "optimizers.gif").read_bytes()[:6] == b"GIF89a"


def test_optimizers_adam_reaches_the_quadratics_minimum_before_sgd_in_the_full_race():
    from ember.viz.labs import optimizers

    surface = optimizers.SURFACES[0]
    reached = {}
    for name in ("SGD", "Adam"):
        _, losses = optimizers.race(surface, name, 200)
        reached[name] = optimizers.steps_to_minimum(surface, losses)
    assert reached["Adam"] < reached["SGD"]


def test_schedules_cover_every_scheduler_and_step_decay_is_what_it_says(tmp_path):
    from ember.optim import lr_scheduler

    found = numbers(tmp_path, "schedules")
    named = {name.split("(")[0].split(" ")[0] for name in found}
    assert named == set(lr_scheduler.__all__) - {"LRScheduler"}
    step = np.asarray(found["StepLR(step 30, ×0.1)"])
    np.testing.assert_allclose(step, 0.1 * 0.1 ** (np.arange(101) // 30), rtol=1e-12)
    cosine = found["CosineAnnealingLR(100)"]
    assert cosine[0] == 0.1 and abs(cosine[-1]) < 1e-12
    plateau = np.asarray(found["ReduceLROnPlateau(patience 10)"])
    assert (plateau[:40] == 0.1).all() and plateau[-1] < 0.1


def test_dropout_inverted_and_vanilla_agree_and_the_mask_average_approaches_the_scaled_layer(tmp_path):
    found = numbers(tmp_path, "dropout")
    assert found["test_time_equal"] is True
    assert found["vanilla_h1"] < 0.15 and found["inverted_h1"] < 0.15  # 200 masks: about 1/sqrt(200)


def test_losses_doubling_the_correct_score_leaves_the_svm_at_zero_and_lowers_softmax(tmp_path):
    found = numbers(tmp_path, "losses")
    assert found["svm_at_10"] == 0 and found["svm_at_20"] == 0
    assert 0 < found["softmax_at_20"] < found["softmax_at_10"]


def test_regularization_stronger_l2_smoother_boundary_lower_training_accuracy(tmp_path):
    found = numbers(tmp_path, "regularization")
    weak, middle, strong = (found[str(l2)] for l2 in (0.001, 0.01, 0.1))
    assert weak["roughness"] > middle["roughness"] > strong["roughness"]
    assert weak["accuracy"] >= middle["accuracy"] >= strong["accuracy"]
    assert weak["accuracy"] > strong["accuracy"]


def test_batchnorm_trains_the_deep_net_faster_at_every_rate(tmp_path):
    found = numbers(tmp_path, "batchnorm")
    for lr in (0.01, 0.1, 1):
        assert found[f"with batch norm, lr {lr:g}"][-1] < found[f"without batch norm, lr {lr:g}"][-1]
