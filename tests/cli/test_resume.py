"""``ember resume``: a run killed at any moment continues exactly; what it may change; extending a run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import textwrap
from pathlib import Path

import pytest

from ember.cli import main
from ember.train.callbacks import read_csv
from ember.train.checkpoint import load_checkpoint

from ..train.helpers import same_state
from .children import pause_at, spawn
from .conftest import train_args

# Run `ember train` in a child process whose checkpoint writer stops half way through the second write of
# last.safetensors (the end of epoch 2), says so, and waits there to be killed.
KILLED_MID_WRITE = textwrap.dedent(
    """
    import os, sys, time
    import ember.atomic as atomic

    writes = {"last": 0}
    original = atomic.write_chunks

    def slow_write(handle, data):
        if ".last.safetensors.tmp-" in handle.name:
            writes["last"] += 1
            if writes["last"] == 2:
                handle.write(data[: len(data) // 2])
                handle.flush()
                os.fsync(handle.fileno())
                print("WRITING", handle.name, flush=True)
                time.sleep(600)
        original(handle, data)

    atomic.write_chunks = slow_write
    from ember.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_a_run_killed_while_writing_a_checkpoint_resumes_from_the_previous_one(mnist_root, tmp_path, capsys):
    args = train_args(mnist_root, tmp_path, "--epochs", "3", "--no-report")
    assert main(train_args(mnist_root, tmp_path, "--epochs", "3", "--no-report", name="straight")) == 0

    child = spawn(KILLED_MID_WRITE, args)  # on as many BLAS threads as this process: bit for bit
    try:
        for line in child.stdout:
            if line.startswith("WRITING"):
                break
        else:
            raise AssertionError(f"the child finished without reaching the write: {child.stderr.read()}")
        temporary = Path(line.split()[1])
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL

    run = tmp_path / "run"
    assert temporary.exists() and temporary.parent == run / "checkpoints"  # the half-written file
    assert load_checkpoint(run / "checkpoints" / "last.safetensors")["progress"]["epoch"] == 1  # intact

    capsys.readouterr()
    assert main(["resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"resuming from {run / 'checkpoints' / 'last.safetensors'} (epoch 1, step 10)" in out
    assert not temporary.exists()  # cleaned up
    straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.safetensors")
    resumed = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert resumed["progress"]["epoch"] == 3
    assert same_state(straight["model"], resumed["model"])  # bit for bit
    assert same_state(straight["optimizer"]["state"][0], resumed["optimizer"]["state"][0])
    strip = [
        [{k: v for k, v in row.items() if k != "seconds"} for row in read_csv(path / "metrics.csv")]
        for path in (tmp_path / "straight", run)
    ]
    assert strip[0] == strip[1] and len(strip[0]) == 3


# ----------------------------------------------------------------------------------------------------------
# Extending a finished run: the schedule is re-laid over the new length (ember.train.resuming)
@pytest.fixture(scope="module")
def three_epochs(mnist_root, tmp_path_factory):
    """The finished run's configuration trained for 3 epochs from the start."""
    output = tmp_path_factory.mktemp("three")
    assert main(train_args(mnist_root, output, "--epochs", "3", "--no-report")) == 0
    return output / "run"


def resumes(run: Path) -> list[dict]:
    """The records of RUN/resumes.jsonl."""
    path = run / "resumes.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def copy_of(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "copy")
    return tmp_path / "copy"


def test_resume_refuses_a_finished_run_without_more_epochs(finished_run, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    assert main(["resume", str(run)]) == 2
    assert capsys.readouterr().err == (
        f"ember resume: {run} has done its 2 epochs: pass --epochs N (more than 2) to train it further\n"
    )
    assert main(["resume", str(run), "--epochs", "1"]) == 2
    assert "epochs 1: the run has already done 2 epochs\n" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["--epochs", "edited config.yaml"])
def test_extending_a_finished_run_follows_the_longer_runs_schedule(
    how, finished_run, three_epochs, tmp_path, capsys
):
    run = copy_of(finished_run, tmp_path)
    before = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert before["optimizer"]["param_groups"][0]["lr"] == 0  # the end of a cosine schedule
    if how == "--epochs":
        assert main(["resume", str(run), "--epochs", "3"]) == 0
    else:
        config = run / "config.yaml"
        config.write_text(config.read_text().replace("epochs: 2", "epochs: 3"))
        assert main(["resume", str(run)]) == 0
    # From step 21 on, the rates are those of the run trained for 3 epochs from the start, to the last bit.
    extended, straight = read_csv(run / "steps.csv"), read_csv(three_epochs / "steps.csv")
    assert [row["step"] for row in extended] == list(range(1, 31))
    assert [row["lr"] for row in extended[20:]] == [row["lr"] for row in straight[20:]]
    assert extended[20]["lr"] > 0.02 and extended[-1]["lr"] < 1e-3
    after = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert after["progress"]["epoch"] == 3
    assert not same_state(before["model"], after["model"])  # it trained: not at a learning rate of 0
    assert (
        "epochs 2 -> 3: the cosine schedule is laid over 3 epochs; from step 20 the learning rate is the one "
        "a 3-epoch run has there: 0.025 (it was 0)"
    ) in capsys.readouterr().out
    assert "epochs: 3" in (run / "config.yaml").read_text()
    (record,) = resumes(run)
    assert record["epoch"] == 2 and record["step"] == 20 and record["changed"] == {"epochs": [2, 3]}


# ----------------------------------------------------------------------------------------------------------
# A config.yaml edited before a resume: refused, unless the field is one that may change
@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("lr: 0.1", "lr: 0.5", "optimizer.lr 0.1 -> 0.5"),
        ("seed: 0", "seed: 7", "seed 0 -> 7"),
        ("batch_size: 100", "batch_size: 50", "batch_size 100 -> 50"),
        ("val_size: 200.0", "val_size: 300", "val_size 200.0 -> 300"),
    ],
)
def test_a_changed_setting_is_refused_with_the_field_named(finished_run, tmp_path, capsys, old, new, named):
    run = copy_of(finished_run, tmp_path)
    config = run / "config.yaml"
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, new, 1))  # the first: finetune.backbone_lr is 0.1 too
    edited = config.read_text()
    last = (run / "checkpoints" / "last.safetensors").read_bytes()
    assert main(["resume", str(run), "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ember resume: {config} was changed after the run started ({named}): ")
    assert "only epochs, data_root, download, workers, checkpoint_every, report, monitor may change" in err
    assert f"ember train --config {config} --name NEW-NAME" in err and err.count("\n") == 1
    assert config.read_text() == edited and not (run / "resumes.jsonl").exists()  # nothing written
    assert (run / "checkpoints" / "last.safetensors").read_bytes() == last


def test_the_settings_that_may_change_are_applied_and_recorded(finished_run, mnist_root, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    moved = tmp_path / "moved-data"
    shutil.copytree(mnist_root, moved)
    config = run / "config.yaml"
    config.write_text(
        config.read_text().replace("workers: 0", "workers: 2").replace("report: true", "report: false")
    )
    assert main(["resume", str(run), "--epochs", "3", "--data-root", str(moved)]) == 0
    (record,) = resumes(run)
    assert record["changed"] == {
        "epochs": [2, 3],
        "data_root": [str(mnist_root), str(moved)],
        "workers": [0, 2],
        "report": [True, False],
    }
    saved = (run / "config.yaml").read_text()
    assert f"data_root: {moved}" in saved and "workers: 2" in saved and "epochs: 3" in saved


def test_a_run_in_use_is_not_resumed(finished_run, tmp_path, capsys):
    from ember.train.rundir import RunLock

    run = copy_of(finished_run, tmp_path)
    with RunLock.acquire(run):  # as a live `ember train` or `ember resume` holds it
        assert main(["resume", str(run), "--epochs", "3"]) == 1
    assert capsys.readouterr().err == (
        f"ember resume: {run} is in use by another ember process (PID {os.getpid()}): wait for it to end, "
        "or use another run directory\n"
    )
    assert load_checkpoint(run / "checkpoints" / "last.safetensors")["progress"]["epoch"] == 2


def test_resume_of_something_else_is_refused(tmp_path, capsys):
    assert main(["resume", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err == f"ember resume: {tmp_path} is not a run directory (no config.yaml in it)\n"
    )
    assert not (tmp_path / ".lock").exists()


# ----------------------------------------------------------------------------------------------------------
# Killed and terminated runs
def test_the_step_log_survives_a_kill_between_checkpoints(mnist_root, tmp_path, capsys):
    args = train_args(mnist_root, tmp_path, "--epochs", "3", "--checkpoint-every", "5", "--no-report")
    child = pause_at(28, "sleep", args)  # the last checkpoint was taken after step 25, mid-epoch 3
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    run = tmp_path / "run"
    assert load_checkpoint(run / "checkpoints" / "last.safetensors")["progress"]["step"] == 25
    assert main(["resume", str(run)]) == 0  # the lock died with the process
    assert "(epoch 2, step 25)" in capsys.readouterr().out
    assert [row["step"] for row in read_csv(run / "steps.csv")] == list(range(1, 31))
    (record,) = resumes(run)
    assert record["step"] == 25 and record["changed"] == {}


def test_sigterm_stops_after_the_step_saves_and_says_how_to_continue(
    finished_run, mnist_root, tmp_path, capsys
):
    child = pause_at(13, "sigterm", train_args(mnist_root, tmp_path, "--no-report"))
    out, err = child.communicate(timeout=120)
    assert child.returncode == 143
    run = tmp_path / "run"
    assert "stopping after this step (SIGTERM; SIGTERM again to abort at once)" in err
    assert "stopped: interrupted (SIGTERM)" in out and f"continue with 'ember resume {run}'" in out
    state = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert state["progress"]["step"] == 13  # the step under way when the signal came was finished and saved
    assert [row["step"] for row in read_csv(run / "steps.csv")] == list(range(1, 14))

    assert main(["resume", str(run)]) == 0
    straight = load_checkpoint(finished_run / "checkpoints" / "last.safetensors")
    resumed = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert same_state(straight["model"], resumed["model"])  # the same run, bit for bit
