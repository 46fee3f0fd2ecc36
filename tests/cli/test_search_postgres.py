"""Two workers share one study through a real PostgreSQL server; one is killed mid-trial.

``ember search --workers 0 --storage URL`` creates the study (and the tables, before any worker starts) and
waits; worker 1 joins, finishes a trial, and is held at step 5 of its second trial (a checkpoint is saved
every 3 steps); worker 2 joins;
worker 1 is killed (SIGKILL). Worker 2 runs the rest of the queue, finds worker 1's trial stale once its
heartbeat is 3 seconds old, marks it failed, and runs its retry, which continues worker 1's run directory
from its last checkpoint. Every slot of the budget ends with exactly one finished trial, and the pruner's
decisions weigh the finished trials of both workers.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import pytest

from ..train.search_helpers import by_slot
from .children import spawn
from .postgres import private_cluster
from .search_children import pause, search_args, wait_for

pytest.importorskip("psycopg2")
pytest.importorskip("optuna")

MAIN = "import sys\nfrom ember.cli import main\nsys.exit(main(sys.argv[1:]))\n"
LIMIT = 300  # seconds: the test takes well under a minute; a hang fails instead of stalling CI


@pytest.fixture
def postgres() -> Iterator[str]:
    with private_cluster() as url:
        yield url


@pytest.fixture
def children() -> Iterator[list[Popen[str]]]:
    """The test's child processes, killed at its end whatever happened; the test is bounded by an alarm
    (a blocking read of a hung child is interrupted too)."""
    started: list[Popen[str]] = []

    def hang(*_: object) -> None:
        raise AssertionError(f"the PostgreSQL test ran for more than {LIMIT} s: a hang")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(LIMIT)
    try:
        yield started
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        for child in started:
            if child.poll() is None:
                child.kill()
            child.communicate()


def test_two_workers_share_a_study_and_one_killed_mid_trial_is_retried(
    postgres, children, mnist_root, tmp_path
):
    from ember.train.search import study as studies

    storage_args = ["--storage", postgres, "--study", "shared"]
    args = search_args(mnist_root, tmp_path, *storage_args, "--workers", "0")
    args[args.index("--trials") + 1] = "8"
    args[args.index("--pruner") + 1] = "median"
    coordinator = spawn(MAIN, [*args, "--startup-trials", "1", "--set", "checkpoint_every=3"])
    children.append(coordinator)
    assert wait_for(coordinator, "waiting for workers") is not None
    worker = ["search", "worker", *storage_args]
    first = pause(
        [*worker, "--worker", "1", "--output", str(tmp_path / "one")], trial=2, step=5, action="sleep"
    )
    second = spawn(MAIN, [*worker, "--worker", "2", "--output", str(tmp_path / "two")])
    children += [first, second]
    first.kill()
    first.communicate(timeout=60)
    out, err = second.communicate(timeout=LIMIT)
    assert second.returncode == 0, err
    assert "nothing left to do" in out
    summary, err = coordinator.communicate(timeout=LIMIT)
    assert coordinator.returncode == 0, err

    study = studies.find_study(studies.open_storage(postgres), "shared")
    trials = sorted(study.get_trials(deepcopy=False), key=lambda trial: trial.number)
    used = [trial for trial in trials if not trial.user_attrs.get("unused")]
    slots = by_slot(used)
    assert sorted(slots) == list(range(8)) and all(len(found) == 1 for found in slots.values())
    finished = [found[0] for found in slots.values()]
    directories = {Path(trial.user_attrs["directory"]) for trial in finished}
    assert len(directories) == 8 and all((d / "summary.json").exists() for d in directories)

    # worker 1's second trial: failed when found stale, retried by worker 2 in worker 1's run directory
    killed = [trial for trial in used if trial.state.name == "FAIL"]
    assert len(killed) == 1 and killed[0].user_attrs["worker"] == 1
    retry = slots[killed[0].user_attrs["slot"]][0]
    assert retry.system_attrs["failed_trial"] == killed[0].number and retry.user_attrs["worker"] == 2
    assert (
        retry.params == killed[0].params
        and retry.user_attrs["directory"] == killed[0].user_attrs["directory"]
    )
    resumed = json.loads((Path(retry.user_attrs["directory"]) / "resumes.jsonl").read_text())
    assert (resumed["epoch"], resumed["step"]) == (0, 3)  # from the checkpoint of step 3, before the kill
    assert {trial.user_attrs["worker"] for trial in finished} == {1, 2}

    # pruning decisions in worker 2's trials weighed worker 1's finished trial as well as its own
    mine = {trial.number for trial in finished if trial.user_attrs["worker"] == 1}
    theirs = {trial.number for trial in finished if trial.user_attrs["worker"] == 2}
    decisions = [d for t in finished if t.user_attrs["worker"] == 2 for d in t.user_attrs.get("pruning", [])]
    assert any(set(d["over"]) & mine and set(d["over"]) & theirs for d in decisions), decisions
    assert f"retried as trial {retry.number}" in (tmp_path / "s" / "results.csv").read_text()
    assert "9 trials:" in summary and "1 failed" in summary
