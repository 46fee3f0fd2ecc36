"""Searches in one process: every trial a run directory, grids, pruning, coarse-to-fine, the results and the
page, the best trained longer; Ember without Optuna."""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ember.train.search import runner
from ember.train.search.settings import SearchSettings
from ember.train.search.space import Param, narrow

from .helpers import write_mnist_subset
from .search_helpers import LR, WEIGHT_DECAY, by_slot, optuna, stage_trials, tiny_base, tiny_settings


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mnist_subset(tmp_path_factory.mktemp("mnist"), train=1200, test=200)


def quiet(_: str) -> None:
    pass


def test_each_trial_is_a_run_directory_with_its_values(mnist_root, tmp_path):
    result = runner.start(tiny_base(mnist_root, tmp_path), [LR, WEIGHT_DECAY], tiny_settings(), echo=quiet)
    trials = stage_trials(result.directory)
    assert [trial.number for trial in trials] == [0, 1, 2, 3]
    assert sorted(by_slot(trials)) == [0, 1, 2, 3] and all(len(t) == 1 for t in by_slot(trials).values())
    for trial in trials:
        directory = Path(trial.user_attrs["directory"])
        assert directory == tmp_path / "search" / "trials" / f"trial-{trial.number:04d}"
        config = yaml.safe_load((directory / "config.yaml").read_text())
        assert config["optimizer"]["lr"] == trial.params["optimizer.lr"]
        assert config["optimizer"]["weight_decay"] == trial.params["optimizer.weight_decay"]
        assert 1e-3 <= trial.params["optimizer.lr"] <= 0.5 and config["epochs"] == 2
        assert (directory / "summary.json").exists() and (
            directory / "checkpoints" / "best.safetensors"
        ).exists()
        history = trial.user_attrs["history"]
        assert [record["epoch"] for record in history] == list(range(1, trial.user_attrs["epochs"] + 1))
        if trial.state.name == "COMPLETE":  # the objective is the best validation accuracy of the run
            assert trial.value == max(record["val_accuracy"] for record in history)
    with open(result.directory / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["trial"]) for row in rows] == [0, 1, 2, 3]
    assert {row["state"] for row in rows} <= {"complete", "pruned@1"}
    assert result.best is not None and result.best.value == max(
        t.value for t in trials if t.value is not None
    )
    page = (result.directory / "report" / "index.html").read_text()
    assert "Ember hyperparameter search" in page and page.count("data:image/png;base64,") == 4


def test_a_grid_runs_every_point_once_in_order_and_pruning_stops_a_bad_one(mnist_root, tmp_path):
    space = [
        Param("optimizer.lr", "choice", choices=(0.2, 1e-4)),
        Param("label_smoothing", "uniform", 0.0, 0.1),
    ]
    settings = tiny_settings(strategy="grid", trials=[], grid_points=2, startup_trials=2)
    result = runner.start(tiny_base(mnist_root, tmp_path), space, settings, echo=quiet)
    trials = stage_trials(result.directory)
    points = [(t.params["optimizer.lr"], t.params["label_smoothing"]) for t in trials]
    assert points == list(itertools.product((0.2, 1e-4), (0.0, 0.1)))
    # lr 1e-4 learns nearly nothing in an epoch: once two trials have finished the median prunes it
    states = [trial.state.name for trial in trials]
    assert states[:2] == ["COMPLETE", "COMPLETE"] and states[2:] == ["PRUNED", "PRUNED"], states
    decision = trials[2].user_attrs["pruning"][-1]
    assert decision["pruned"] and decision["epoch"] == 1 and decision["over"] == [0, 1]
    assert decision["value"] < decision["median"]
    summary = json.loads((Path(trials[2].user_attrs["directory"]) / "summary.json").read_text())
    assert summary["stop_reason"].startswith("pruned at epoch 1: val accuracy")


def test_coarse_to_fine_narrows_the_second_stage_around_the_first_stages_best(mnist_root, tmp_path):
    settings = tiny_settings(strategy="coarse-to-fine", trials=[5, 3], epochs=[1, 2], top_k=2, pruner="none")
    result = runner.start(tiny_base(mnist_root, tmp_path), [LR, WEIGHT_DECAY], settings, echo=quiet)
    first, second = stage_trials(result.directory, 1), stage_trials(result.directory, 2)
    assert [t.user_attrs["epochs"] for t in first] == [1] * 5 and [
        t.user_attrs["epochs"] for t in second
    ] == [2] * 3
    top = sorted(first, key=lambda t: t.value, reverse=True)[:2]
    for param in (LR, WEIGHT_DECAY):
        expected = narrow(param, param, [t.params[param.name] for t in top])
        for trial in second:
            assert expected.low <= trial.params[param.name] <= expected.high
    assert Path(second[0].user_attrs["directory"]).parent == result.directory / "stage-2"
    assert result.best is not None and result.best.stage == 2  # the last stage's best is the answer


def test_then_train_trains_the_best_longer_and_tests_it(mnist_root, tmp_path):
    settings = tiny_settings(trials=[2], then_train=True, final_epochs=3, pruner="none")
    result = runner.start(tiny_base(mnist_root, tmp_path), [LR], settings, echo=quiet)
    assert result.final is not None and result.final.finished and len(result.final.history) == 3
    config = yaml.safe_load((result.directory / "final" / "config.yaml").read_text())
    assert config["optimizer"]["lr"] == result.best.params["optimizer.lr"] and config["epochs"] == 3
    assert "test accuracy" in (result.directory / "report" / "index.html").read_text()


def test_a_search_needs_a_validation_split_and_a_free_directory(mnist_root, tmp_path):
    from ember.train.config import ConfigError
    from ember.train.search.study import SearchError

    with pytest.raises(ConfigError, match="val_size: a search compares trials on a validation split"):
        runner.start(tiny_base(mnist_root, tmp_path, val_size=0), [LR], tiny_settings(), echo=quiet)
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "notes.txt").write_text("mine")
    with pytest.raises(SearchError, match="is not empty: choose another --name"):
        runner.start(tiny_base(mnist_root, tmp_path), [LR], tiny_settings(), echo=quiet)
    assert sorted(p.name for p in (tmp_path / "search").iterdir()) == [".lock", "notes.txt"]


def test_ember_works_without_optuna_and_search_says_how_to_get_it(tmp_path):
    script = (
        "import sys; sys.modules['optuna'] = None\n"
        "import ember, ember.train, ember.train.search\n"
        "from ember.cli import main\n"
        "status = main(['search', '--param', 'lr=log:1e-3:0.1', '--output', sys.argv[1]])\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == "ember search: ember search needs Optuna: pip install 'ember[search]'\n"
    assert list(tmp_path.iterdir()) == []


def test_settings_round_trip_through_the_plan():
    settings = SearchSettings(strategy="tpe", trials=[7], workers=3)
    assert SearchSettings(**json.loads(json.dumps(settings.to_dict()))) == settings


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask() without optimize(): no heartbeat needed
def test_sqlite_storage_changes_a_trials_state_and_numbers_trials_under_a_file_lock(tmp_path, monkeypatch):
    """SQLite has no row locks: Optuna's check-then-set of a trial's state (taking a waiting trial) and its
    count for a new trial's number must hold the storage's file lock, or two workers can take one trial."""
    import fcntl

    from ember.train.search import study as studies

    def locked() -> bool:
        with open(tmp_path / "study.db.lock", "a") as other:
            try:
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(other.fileno(), fcntl.LOCK_UN)
            return False

    held: dict[str, list[bool]] = {"_create_new_trial": [], "set_trial_state_values": []}
    for name in held:
        original = getattr(optuna.storages.RDBStorage, name)

        def watched(self, *args, _name=name, _original=original, **kwargs):
            held[_name].append(locked())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(optuna.storages.RDBStorage, name, watched)
    storage = studies.open_storage(f"sqlite:///{tmp_path / 'study.db'}", create_tables=True)
    study = optuna.create_study(storage=storage, direction="maximize")
    study.enqueue_trial({}, user_attrs={"slot": 0})  # makes a trial: numbered under the lock
    trial = study.ask()  # takes the waiting trial: its state checked and set under the lock
    assert trial.number == 0
    assert held == {"_create_new_trial": [True], "set_trial_state_values": [True]}, held
    assert not locked()  # and released after


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask() without optimize(): no heartbeat needed
def test_a_stage_is_not_over_between_a_silent_trials_failure_and_its_retry(tmp_path, monkeypatch):
    """Optuna fails a trial whose worker stopped sending heartbeats, then queues its retry. Read in between,
    with nothing else waiting or running, the stage looked over: a coordinator waiting for remote workers
    stopped waiting and said 'stage 1 did not finish' (or, reading again too soon, ended the search early)."""
    from ember.train.search import study as studies

    storage = studies.open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat=1, create_tables=True)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.enqueue_trial({}, user_attrs={"slot": 0})
    silent = study.ask()  # its worker dies mid-trial: the last trial running, nothing else queued
    silent.set_user_attr("stopped", None)
    monkeypatch.setattr(storage, "_get_stale_trial_ids", lambda study_id: [silent._trial_id])
    queue_retry, seen = storage.heartbeat_stale_trial_callback, []

    def between(study: Any, failed: Any) -> None:  # called after the failure, before the retry is queued
        reader = studies.find_study(storage, "s")  # another process, reading now
        seen.append((failed.state.name, studies.counts(reader), studies.finished(reader)))
        queue_retry(study, failed)

    monkeypatch.setattr(storage, "heartbeat_stale_trial_callback", between)
    studies.fail_stale(study)
    assert seen == [("FAIL", {"FAIL": 1}, False)]
    monkeypatch.undo()
    assert not studies.finished(study)  # the retry waits
    retry = study.ask()
    frozen = study.get_trials()[retry.number]
    assert frozen.system_attrs["failed_trial"] == silent.number and frozen.user_attrs["slot"] == 0
    study.tell(retry, 0.5)
    assert studies.finished(study)


def test_only_a_failed_trial_without_a_reason_waits_for_its_retry_and_resume_queues_a_lost_one():
    from ember.train.search import study as studies

    study = optuna.create_study(direction="maximize")

    def failed(user_attrs: dict[str, Any], retries: int = 0) -> None:
        history = {"failed_trial": 0, "retry_history": list(range(retries))} if retries else {}
        trial = optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL, user_attrs={"slot": 0, **user_attrs}, system_attrs=history
        )
        study.add_trial(trial)

    failed({"stopped": "trial 0 diverged: loss is nan"})  # failed for good, not retried
    failed({"unused": True})
    failed({"stopped": None}, retries=studies.MAX_RETRIES)  # silent, but out of retries
    assert studies.finished(study) and studies.queue_lost_retries(study) == []
    failed({"stopped": None, "directory": "trials/trial-0003"})  # silent: its retry is due
    assert not studies.finished(study)
    assert studies.queue_lost_retries(study) == [3]  # its worker died before queuing it: resume does
    retry = study.get_trials()[-1]
    assert retry.state.name == "WAITING" and retry.system_attrs["retry_history"] == [3]
    assert retry.user_attrs["directory"] == "trials/trial-0003"
    assert studies.queue_lost_retries(study) == []  # once


def test_a_trial_that_fails_says_why_so_it_is_not_taken_for_one_whose_worker_died(
    mnist_root, tmp_path, monkeypatch
):
    from ember.train import run
    from ember.train.search import study as studies
    from ember.train.search.trial import TrialSetup, objective

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("a fault in the run")

    monkeypatch.setattr(run, "start", broken)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({}, user_attrs={"slot": 0})
    base = tiny_base(mnist_root, tmp_path)
    setup = TrialSetup(
        study, base, [LR], epochs=1, output=tmp_path, pruner="none", worker=1, stream=io.StringIO()
    )
    with pytest.raises(ValueError, match="a fault in the run"):
        study.optimize(functools.partial(objective, setup), n_trials=1)
    (trial,) = study.get_trials()
    assert trial.state.name == "FAIL" and trial.user_attrs["stopped"] == "ValueError: a fault in the run"
    assert studies.finished(study)  # no retry is due: the stage is over
