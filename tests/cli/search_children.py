"""``ember search`` in child processes that stop where a test wants them: in a given trial, at a step."""

from __future__ import annotations

import os
import time
from pathlib import Path
from subprocess import Popen

from .children import SOURCE, _read_line, spawn

# ember ARGS in a child that, in its trial number PAUSE_TRIAL (counted from 1 in this process) at training
# step PAUSE_STEP, says STEP and then sends itself SIGTERM or sleeps until it is killed.
PAUSE_IN_TRIAL = """
import os, signal, sys, time
from ember.train.trainer import Trainer

trial, step = int(os.environ["PAUSE_TRIAL"]), int(os.environ["PAUSE_STEP"])
action = os.environ["PAUSE_ACTION"]
original_fit, original_step = Trainer.fit, Trainer.training_step
fits = [0]

def fit(self, *args, **kwargs):
    fits[0] += 1
    return original_fit(self, *args, **kwargs)

def training_step(self, inputs, targets):
    if fits[0] == trial and self.step + 1 == step:
        print("STEP", step, flush=True)
        if action == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            time.sleep(600)
    return original_step(self, inputs, targets)

Trainer.fit, Trainer.training_step = fit, training_step
from ember.cli import main
sys.exit(main(sys.argv[1:]))
"""


# A sitecustomize for the children of ``ember search --workers N`` (started by the command, not the test):
# each holds its trial at its third step until the file ``go`` appears in EMBER_TEST_HOLD, having written
# ``held-PID`` there. So the test knows every worker is mid-trial, however busy the machine.
HOLD_AT_STEP_3 = """
import os, time
if os.environ.get("EMBER_TEST_HOLD"):
    from ember.train.trainer import Trainer

    folder, original = os.environ["EMBER_TEST_HOLD"], Trainer.training_step

    def training_step(self, inputs, targets):
        if self.step + 1 == 3 and not os.path.exists(os.path.join(folder, "go")):
            open(os.path.join(folder, f"held-{os.getpid()}"), "w").close()
            while not os.path.exists(os.path.join(folder, "go")):
                time.sleep(0.05)
        return original(self, inputs, targets)

    Trainer.training_step = training_step
"""


def holding(script: str, args: list[str], folder: Path, workers: int) -> Popen[str]:
    """``script ARGS`` in a child whose worker processes hold their first trial at step 3 (``HOLD_AT_STEP_3``)
    until ``release(folder)``; returned once ``workers`` of them are held."""
    hook = folder / "hook"
    hook.mkdir(parents=True)
    (hook / "sitecustomize.py").write_text(HOLD_AT_STEP_3)
    path = os.pathsep.join([str(hook), SOURCE, os.environ.get("PYTHONPATH", "")])
    child = spawn(script, args, PYTHONPATH=path, EMBER_TEST_HOLD=str(folder))
    deadline = time.monotonic() + 300  # a bound on a hang, not a measurement
    while len(list(folder.glob("held-*"))) < workers:
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            out, err = child.communicate()
            raise AssertionError(f"the workers were not held:\n{out}{err}")
        time.sleep(0.05)
    return child


def release(folder: Path) -> None:
    (folder / "go").touch()


def search_args(root: Path, output: Path, *extra: str) -> list[str]:
    """``ember search`` on the MNIST subset with a tiny MLP: 4 trials of 2 epochs, 10 steps each."""
    return [
        "search",
        "--dataset", "mnist", "--data-root", str(root), "--model", "mlp",
        "--set", "model_options.hidden=[32]", "--epochs", "2", "--augment", "none", "--batch-size", "100",
        "--val-size", "200", "--set", "workers=0", "--output", str(output), "--name", "s",
        "--param", "lr=log:0.01:0.3", "--trials", "4", "--pruner", "none", "--no-report", "--heartbeat", "1",
        *extra,
    ]  # fmt: skip


def pause(args: list[str], trial: int, step: int, action: str) -> Popen[str]:
    """``ember ARGS`` in a child that does ``action`` at step ``step`` of its trial ``trial``."""
    child = spawn(PAUSE_IN_TRIAL, args, PAUSE_TRIAL=str(trial), PAUSE_STEP=str(step), PAUSE_ACTION=action)
    said = wait_for(child, "STEP")
    if said is None:
        raise AssertionError(
            f"the child ended before the pause:\n{child.stderr.read() if child.stderr else ''}"
        )
    return child


def wait_for(child: Popen[str], text: str) -> list[str] | None:
    """The child's output lines up to the first that starts with ``text`` (None if it ends first).

    Read a byte at a time (``children._read_line``), so that what follows stays for ``communicate()``.
    """
    assert child.stdout is not None
    lines = []
    while line := _read_line(child.stdout.fileno()):
        lines.append(line)
        if line.startswith(text):
            return lines
    child.wait(timeout=60)
    return None
