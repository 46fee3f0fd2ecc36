"""``ember search`` from the command line: bad searches refused in one message, a config file's search
section, and searches stopped (SIGTERM) or killed (SIGKILL) mid-trial then resumed: no finished trial lost or
run again, the stopped trial continued from its checkpoint."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest

from ember.cli import main
from ember.train.search.tune import refresh_page

from ..train.search_helpers import by_slot, stage_trials
from .search_children import holding, pause, release, search_args

MAIN = "import sys\nfrom ember.cli import main\nsys.exit(main(sys.argv[1:]))\n"
# ember in a child that takes Ctrl-C as from a terminal: a process started in the background (pytest-xdist's
# workers, `cmd &` in a script) ignores SIGINT, and its children inherit that; Python then leaves it ignored.
MAIN_WITH_CTRL_C = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n" + MAIN

pytest.importorskip("optuna")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--param", "lr=log:0:1"], "--param lr: a log range must be above 0"),
        (
            ["--param", "momentum=uniform:0.5:1.5"],
            "search.space.optimizer.momentum: at 1.5: optimizer.momentum: must",
        ),
        (["--param", "lr=log:1e-3:1", "--strategy", "bayes"], "search.strategy: unknown value 'bayes'"),
        (["--param", "lr=log:1e-3:1", "--trials", "0"], "search.trials: must be at least 1 each"),
        (["--param", "lr=log:1e-3:1", "--storage", "redis://x"], "search.storage: expected sqlite:///FILE"),
        (
            ["--param", "lr=log:1e-3:1", "--storage", "memory", "--workers", "2"],
            "an in-memory study lives in one",
        ),
        (["--param", "lr"], "--param: expected NAME=SCALE:LOW:HIGH, got 'lr'"),
        ([], "no parameters to search: give --param NAME=SCALE:LOW:HIGH or search.space"),
    ],
)
def test_a_bad_search_is_refused_before_anything_runs(mnist_root, tmp_path, capsys, flags, message):
    args = [arg for arg in search_args(mnist_root, tmp_path) if arg != "lr=log:0.01:0.3"]
    args.remove("--param")
    assert main(args + flags) == 2
    err = capsys.readouterr().err
    assert err.startswith("ember search: invalid configuration") and message in err, err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_a_config_files_search_section_sets_the_space_and_flags_override_it(mnist_root, tmp_path, capsys):
    config = tmp_path / "search.toml"
    config.write_text(
        'model = "mlp"\nepochs = 1\n[search]\nstrategy = "grid"\ngrid-points = 2\npruner = "none"\n'
        '[search.space]\nlr = "log:0.01:0.1"\n"optimizer.momentum" = {choices = [0.0, 0.9]}\n'
    )
    args = search_args(mnist_root, tmp_path / "out", "--config", str(config), "--grid-points", "3")
    args[args.index("--trials") : args.index("--trials") + 2] = []  # a grid runs all its points
    assert main(args) == 0
    trials = stage_trials(tmp_path / "out" / "s")
    # --param lr=log:0.01:0.3 replaces the file's lr, --grid-points 3 its 2: momentum varies slowest
    assert [(t.params["optimizer.momentum"], t.params["optimizer.lr"]) for t in trials] == [
        (momentum, lr) for momentum in (0.0, 0.9) for lr in (0.01, 0.0547723, 0.3)
    ]
    out = capsys.readouterr().out
    assert "6 trials: 6 complete, 0 pruned, 0 failed" in out and "report: " in out
    capsys.readouterr()
    assert main(["search", "report", str(tmp_path / "out" / "s")]) == 0
    assert "optimizer.lr" not in capsys.readouterr().out.splitlines()[0]  # short column titles: lr


def finished_directories(trials) -> dict[int, Path]:
    return {
        t.number: Path(t.user_attrs["directory"]) for t in trials if t.state.name in ("COMPLETE", "PRUNED")
    }


@pytest.mark.parametrize("action", ["sigterm", "kill", "lost"])
def test_a_search_stopped_mid_trial_resumes_without_losing_or_repeating_trials(mnist_root, tmp_path, action):
    """Trial 2 is stopped in its second epoch (step 15 of 20). SIGTERM: it stops after the step, saves, and
    queues its retry (exit 143). SIGKILL: its heartbeat stops; the resumed search finds it stale after 3
    seconds, marks it failed and queues the retry. Lost: killed, then failed by a worker that died before
    queuing the retry; resume queues it. Either way the retry continues its run directory."""
    args = search_args(mnist_root, tmp_path)
    child = pause(args, trial=2, step=15, action="sigterm" if action == "sigterm" else "sleep")
    if action != "sigterm":
        child.kill()
    _, err = child.communicate(timeout=120)
    assert child.returncode == (143 if action == "sigterm" else -signal.SIGKILL), err
    directory = tmp_path / "s"
    if action == "lost":
        from ember.train.search import study as studies

        record = json.loads((directory / "search.json").read_text())
        study = studies.find_study(studies.open_storage(record["storage"]), record["study"])
        study.tell(1, state=studies.trial_state("FAIL"))
    before = stage_trials(directory)
    done = finished_directories(before)
    assert list(done) == [0]
    stamp = (done[0] / "summary.json").stat().st_mtime_ns
    stopped = Path(before[1].user_attrs["directory"])
    assert (stopped / "checkpoints" / "last.safetensors").exists()  # saved after epoch 1

    assert main(["search", "resume", str(directory)]) == 0
    after = stage_trials(directory)
    slots = by_slot(after)
    assert sorted(slots) == [0, 1, 2, 3] and all(len(trials) == 1 for trials in slots.values())
    assert (done[0] / "summary.json").stat().st_mtime_ns == stamp  # the finished trial was not run again
    retry = slots[1][0]
    assert retry.number == 4 and retry.system_attrs["failed_trial"] == 1
    assert after[1].state.name == "FAIL" and Path(retry.user_attrs["directory"]) == stopped
    assert retry.params == before[1].params
    resumes = [json.loads(line) for line in (stopped / "resumes.jsonl").read_text().splitlines()]
    assert len(resumes) == 1 and resumes[0]["epoch"] == 1, resumes  # continued, not restarted
    assert [record["epoch"] for record in retry.user_attrs["history"]] == [1, 2]
    if action == "sigterm":
        assert after[1].user_attrs["stopped"].startswith("interrupted (SIGTERM)")
    with open(directory / "results.csv") as handle:
        assert "retried as trial 4" in handle.read()


def test_resume_refuses_a_folder_that_is_not_a_search(tmp_path, capsys):
    assert main(["search", "resume", str(tmp_path)]) == 1
    assert (
        capsys.readouterr().err
        == f"ember search: {tmp_path} is not a search directory (no search.json in it)\n"
    )


def test_a_worker_needs_a_storage(capsys, monkeypatch):
    monkeypatch.delenv("EMBER_SEARCH_STORAGE", raising=False)
    assert main(["search", "worker", "--study", "x"]) == 1
    assert "pass --storage URL (or set EMBER_SEARCH_STORAGE)" in capsys.readouterr().err
    assert os.environ.get("EMBER_SEARCH_STORAGE") is None


def test_two_local_workers_run_each_grid_point_once(mnist_root, tmp_path):
    args = search_args(mnist_root, tmp_path, "--strategy", "grid", "--grid-points", "5", "--workers", "2")
    args[args.index("--trials") : args.index("--trials") + 2] = []
    assert main(args) == 0
    # a worker may make one more trial when the last was taken under it: marked unused, never run
    trials = [trial for trial in stage_trials(tmp_path / "s") if not trial.user_attrs.get("unused")]
    values = sorted(trial.params["optimizer.lr"] for trial in trials)
    assert values == [0.01, 0.0234035, 0.0547723, 0.128186, 0.3]  # 0.01 * 30 ** (k / 4)
    assert all(trial.state.name == "COMPLETE" for trial in trials)
    assert {trial.user_attrs["worker"] for trial in trials} <= {1, 2}
    for worker in (1, 2):
        assert "nothing left to do" in (tmp_path / "s" / "logs" / f"worker-{worker}.log").read_text()


def test_ctrl_c_reaches_every_local_worker_once_and_the_search_resumes(mnist_root, tmp_path):
    """Ctrl-C at the command stops its workers (each in its own process group, so the signal is passed on
    exactly once): exit 130; the resumed search ends with every slot of the budget finished once."""
    args = search_args(mnist_root, tmp_path, "--workers", "2")
    args[args.index("--trials") + 1] = "6"
    hold = tmp_path / "hold"
    child = holding(MAIN_WITH_CTRL_C, args, hold, workers=2)  # both workers are mid-trial
    child.send_signal(signal.SIGINT)
    release(hold)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 130, err
    assert "search stopped: continue it with 'ember search resume" in out
    assert main(["search", "resume", str(tmp_path / "s")]) == 0
    slots = by_slot(stage_trials(tmp_path / "s"))
    assert sorted(slots) == list(range(6)) and all(len(trials) == 1 for trials in slots.values())


def test_a_stopped_tune_has_its_page_and_resuming_its_search_rewrites_it(mnist_root, tmp_path):
    """``ember tune`` stopped in its second trial leaves ``TUNE/index.html`` saying how to continue;
    ``ember search resume TUNE/search`` finishes the search and the final run and rewrites the tune page,
    every link live. A search's own page is never taken for a tune's."""
    args = search_args(mnist_root, tmp_path)
    args[0] = "tune"
    args[args.index("--trials") + 1] = "2,1"
    args[args.index("--param") : args.index("--param") + 2] = []  # tune's default space
    args.remove("--no-report")  # tune's pages link the reports
    args += ["--stage-epochs", "2,2", "--final-epochs", "1", "--skip-checks"]
    child = pause(args, trial=2, step=15, action="sigterm")
    _, err = child.communicate(timeout=120)
    assert child.returncode == 143, err
    tune, search = tmp_path / "s", tmp_path / "s" / "search"
    page = (tune / "index.html").read_text()
    assert f"Not finished: <code>ember search resume {search}</code>" in page
    assert main(["search", "resume", str(search)]) == 0
    page = (tune / "index.html").read_text()
    links = set(re.findall(r'href="([^"]+)"', page))
    assert {"search/report/index.html", "search/results.csv", "search/final/report/index.html"} <= links
    assert all((tune / link).exists() for link in links) and "Not finished" not in page
    assert "test accuracy, the best trained longer" in page
    other = tmp_path / "other"
    (other / "search").mkdir(parents=True)
    (other / "index.html").write_text("<html><title>my notes</title></html>")
    assert refresh_page(other / "search", None) is None  # type: ignore[arg-type]
    assert (other / "index.html").read_text() == "<html><title>my notes</title></html>"
