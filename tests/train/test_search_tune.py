"""``tune``: the lectures' six steps in one call: the checks of steps 1-3, a coarse-to-fine search around
step 3's learning rate, the best trained longer, one page linking the three reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ember.cli import main
from ember.train.doctor import DoctorOptions, DoctorReport, Finding, RangeTest
from ember.train.search import study as studies
from ember.train.search.tune import SetupFlagged, blocking, tune

from .helpers import write_mnist_subset
from .search_helpers import optuna, stage_trials, tiny_base, tiny_settings

assert optuna is not None
QUICK = DoctorOptions(batches=2, overfit_size=20, overfit_steps=100, held_out=100, lr_iterations=40,
                      verify_steps=10, val_batches=1)  # fmt: skip


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mnist_subset(tmp_path_factory.mktemp("mnist"), train=1200, test=200)


def test_tune_checks_then_searches_around_step_3s_rate_then_trains_the_best_longer(mnist_root, tmp_path):
    settings = tiny_settings(trials=[3, 2], epochs=[1, 2], final_epochs=3, pruner="none")
    lines: list[str] = []
    result = tune(
        tiny_base(mnist_root, tmp_path, name="tune"), [], settings, lines.append, doctor_options=QUICK
    )
    directory = tmp_path / "tune"
    findings = json.loads((directory / "doctor" / "findings.json").read_text())["findings"]
    assert [finding["check"] for finding in findings] == [
        "initial loss",
        "overfit a small sample",
        "learning-rate range test",
    ]
    assert result.doctor is not None and result.doctor.ok
    lr = result.doctor.findings[2].verified_lr
    assert lr is not None and f"step 3's learning rate: {lr:.3g}" in lines
    # step 4: the learning rate a decade either side of step 3's, weight decay 1e-6..1e-3, short runs
    record = json.loads((directory / "search" / "search.json").read_text())
    storage = studies.open_storage(record["storage"])
    first = studies.find_study(storage, studies.stage_name(record["study"], 1))
    ranges = {param.name: (param.scale, param.low, param.high) for param in studies.stage_space(first)}
    assert ranges["optimizer.lr"] == ("log", pytest.approx(lr / 10), pytest.approx(lr * 10))
    assert ranges["optimizer.weight_decay"] == ("log", 1e-6, 1e-3)
    assert [t.user_attrs["epochs"] for t in stage_trials(directory / "search", 1)] == [1, 1, 1]
    # step 5: narrowed, longer; then the best of them trained longer and tested
    assert len(stage_trials(directory / "search", 2)) == 2
    assert result.search is not None and result.search.final is not None
    assert len(result.search.final.history) == 3 and result.search.final.test is not None
    page = (directory / "index.html").read_text()
    links = re.findall(r'href="([^"]+)"', page)
    assert {"doctor/index.html", "search/report/index.html", "search/final/report/index.html"} <= set(links)
    assert all((directory / link).exists() for link in links)


def test_a_flagged_check_stops_tune_before_any_search(mnist_root, tmp_path):
    base = tiny_base(mnist_root, tmp_path, name="tune", optimizer={"name": "sgd", "lr": 1e-6})
    with pytest.raises(SetupFlagged, match=r"^steps 1-3 flagged overfit a small sample: fix the setup"):
        tune(base, [], tiny_settings(trials=[3, 2]), lambda _: None, doctor_options=QUICK)
    assert sorted(path.name for path in (tmp_path / "tune").iterdir()) == ["doctor", "index.html"]
    assert (
        "<li><b>FLAG overfit a small sample: cannot overfit" in (tmp_path / "tune" / "index.html").read_text()
    )


def test_ember_tune_checks_the_whole_search_before_anything_runs(mnist_root, tmp_path, capsys):
    argv = ["tune", "--dataset", "mnist", "--data-root", str(mnist_root), "--model", "mlp",
            "--output", str(tmp_path), "--name", "tune"]  # fmt: skip
    assert main([*argv, "--param", "momentum=uniform:0.5:1.5"]) == 2
    assert "search.space.optimizer.momentum: at 1.5: optimizer.momentum: must be" in capsys.readouterr().err
    assert main([*argv, "--trials", "4"]) == 2  # coarse then fine: two stages
    assert "search.epochs: give trials and epochs for each of the 2 stages" in capsys.readouterr().err
    assert not (tmp_path / "tune").exists()


def test_a_range_test_flagged_for_the_configured_rate_does_not_stop_tune():
    """Its flag says the configured rate is off; the search replaces that rate by the verified one."""
    off = RangeTest("learning-rate range test", False, "configured rate too low", suggestion=0.02)
    none = RangeTest("learning-rate range test", False, "loss not going down at any rate")
    bad = Finding("overfit a small sample", False, "cannot overfit")
    report = DoctorReport(config=None, findings=[off, bad])  # type: ignore[arg-type]
    assert blocking(report) == [bad]
    assert blocking(DoctorReport(config=None, findings=[none])) == [none]  # type: ignore[arg-type]
