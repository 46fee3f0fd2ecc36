"""The Trainer on real MNIST images: it learns, it resumes bit for bit, it stops on NaN, on Ctrl-C, early."""

from __future__ import annotations

import os
import re
import signal

import numpy as np
import pytest

import ember
from ember import nn, optim
from ember.data import ArrayDataset, DataLoader, TensorDataset
from ember.data import transforms as T
from ember.train import (
    Callback,
    DivergenceGuard,
    EarlyStopping,
    MetricLogger,
    ModelCheckpoint,
    ProgressBar,
    Trainer,
    load_checkpoint,
)
from ember.train.callbacks import read_csv

from .helpers import mnist_arrays, mnist_tensors, same_state, tiny_mlp

EPOCHS = 4


def make_run(directory, epochs=EPOCHS, callbacks=(), every_n_steps=None, lr=0.05):
    """A small but complete run: augmentation, shuffling, dropout, batch norm, Nesterov momentum, cosine."""
    ember.manual_seed(0)
    images, labels = mnist_arrays(True)
    augment = T.Compose([T.RandomCrop(28, padding=2), T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    train = DataLoader(
        ArrayDataset(images[:640], labels[:640], augment),
        batch_size=64,
        shuffle=True,
        generator=ember.Generator(1),
    )
    x, y = mnist_tensors(256, offset=640)
    val = DataLoader(TensorDataset(x, y), batch_size=128)
    model = tiny_mlp()
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(train))
    checkpoints = ModelCheckpoint(directory / "checkpoints", every_n_steps=every_n_steps)
    trainer = Trainer(
        model,
        optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        callbacks=[DivergenceGuard(), MetricLogger(directory), checkpoints, *callbacks],
    )
    return trainer, train, val


def without_times(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


def test_it_learns_mnist(tmp_path):
    trainer, train, val = make_run(tmp_path)
    history = trainer.fit(train, val, epochs=EPOCHS)
    assert [record["epoch"] for record in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.7  # 40 steps on 640 images; chance is 0.1
    result = trainer.evaluate(val)
    assert result.accuracy == history[-1]["val_accuracy"] and result.count == 256
    scores = trainer.predict(val)
    assert scores.shape == (256, 10)
    assert np.array_equal(scores.array.argmax(1) == val.dataset.tensors[1].array, np.ones(256, bool)) is False
    assert (scores.array.argmax(1) == val.dataset.tensors[1].array).mean() == result.accuracy


def test_four_epochs_equal_two_then_two_more_after_a_resume(tmp_path):
    straight, train, val = make_run(tmp_path / "straight")
    straight.fit(train, val, epochs=EPOCHS)

    first, train, val = make_run(tmp_path / "stopped")
    first.fit(train, val, epochs=2)  # the same run (schedule for 4 epochs), stopped after 2
    state = load_checkpoint(tmp_path / "stopped" / "checkpoints" / "last.safetensors")
    assert state["progress"]["epoch"] == 2

    ember.manual_seed(12345)  # a fresh process would start from anywhere: the checkpoint restores it all
    resumed, train, val = make_run(tmp_path / "stopped")
    resumed.load_state_dict(state)
    resumed.fit(train, val, epochs=EPOCHS)

    assert same_state(straight.model.state_dict(), resumed.model.state_dict())
    assert without_times(straight.history) == without_times(resumed.history)
    straight_opt, resumed_opt = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert straight_opt["param_groups"] == resumed_opt["param_groups"]
    for index, buffers in straight_opt["state"].items():
        assert same_state(buffers, resumed_opt["state"][index])
    assert straight.scheduler.state_dict() == resumed.scheduler.state_dict()
    steps = {name: read_csv(tmp_path / name / "steps.csv") for name in ("straight", "stopped")}
    strip = [
        [{k: v for k, v in row.items() if k != "images_per_second"} for row in rows]
        for rows in steps.values()
    ]
    assert strip[0] == strip[1] and len(strip[0]) == EPOCHS * 10
    assert without_times(read_csv(tmp_path / "stopped" / "metrics.csv")) == without_times(
        read_csv(tmp_path / "straight" / "metrics.csv")
    )


class InterruptAt(Callback):
    """Sends this process SIGINT (Ctrl-C) after a given step."""

    def __init__(self, step):
        self.step = step

    def on_train_batch_end(self, trainer, logs):
        if logs.step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_stops_between_steps_and_the_run_continues_mid_epoch(tmp_path):
    straight, train, val = make_run(tmp_path / "straight")
    straight.fit(train, val, epochs=3)

    stopped, train, val = make_run(tmp_path / "stopped", callbacks=[InterruptAt(14)])
    stopped.fit(train, val, epochs=3)
    assert stopped.interrupted and stopped.step == 14 and stopped.epoch == 1
    state = load_checkpoint(tmp_path / "stopped" / "checkpoints" / "last.safetensors")
    assert state["progress"]["step"] == 14 and state["loader"]["batches_yielded"] == 4

    resumed, train, val = make_run(tmp_path / "stopped")
    resumed.load_state_dict(state)
    resumed.fit(train, val, epochs=3)
    assert same_state(straight.model.state_dict(), resumed.model.state_dict())
    assert without_times(straight.history) == without_times(resumed.history)


def test_a_checkpoint_every_n_steps_resumes_mid_epoch(tmp_path):
    straight, train, val = make_run(tmp_path / "straight")
    straight.fit(train, val, epochs=2)

    class StopAt(Callback):
        def on_train_batch_end(self, trainer, logs):
            if logs.step == 17:
                raise KeyboardInterrupt  # a crash: nothing saved after step 15's checkpoint

    crashed, train, val = make_run(tmp_path / "crashed", callbacks=[StopAt()], every_n_steps=5)
    with pytest.raises(KeyboardInterrupt):
        crashed.fit(train, val, epochs=2)
    state = load_checkpoint(tmp_path / "crashed" / "checkpoints" / "last.safetensors")
    assert state["progress"]["step"] == 15
    resumed, train, val = make_run(tmp_path / "crashed", every_n_steps=5)
    resumed.load_state_dict(state)
    resumed.fit(train, val, epochs=2)
    assert same_state(straight.model.state_dict(), resumed.model.state_dict())


class LearningRateBlowUp(Callback):
    """After the first epoch, a learning rate far too high: the loss explodes within a few steps."""

    def on_epoch_end(self, trainer, record):
        for group in trainer.optimizer.param_groups:
            group["lr"] = 1e12


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    trainer, train, val = make_run(tmp_path, callbacks=[LearningRateBlowUp(), ProgressBar(bar=False)])
    trainer.scheduler = None
    trainer.fit(train, val, epochs=EPOCHS)
    assert trainer.diverged and trainer.epoch == 1
    message = trainer.stop_reason
    assert re.fullmatch(
        r"loss is (NaN|Inf) at step (\d+): "
        r"the learning rate is probably too high, or the initialization is bad",
        message,
    ), message
    assert int(re.search(r"step (\d+)", message).group(1)) == trainer.step > 10
    assert message in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "checkpoints" / "last.safetensors")
    assert state["progress"]["epoch"] == 1 and state["progress"]["step"] == 10
    assert all(np.isfinite(tensor.array).all() for tensor in state["model"].values())
    assert len(read_csv(tmp_path / "metrics.csv")) == 1


class NaNWhenEvaluating(nn.Module):
    """Scores that overflow on the validation split only, as those of weights grown far too large can."""

    def forward(self, x):
        return x if self.training else x * float("nan")


def test_a_nan_validation_loss_is_a_divergence_too(tmp_path, capsys):
    trainer, train, val = make_run(tmp_path, callbacks=[ProgressBar(bar=False)])
    trainer.model = nn.Sequential(trainer.model, NaNWhenEvaluating())
    trainer.fit(train, val, epochs=EPOCHS)
    assert trainer.diverged and trainer.epoch == 1 and np.isfinite(trainer.history[0]["train_loss"])
    reason = (
        "validation loss is NaN after epoch 1 (step 10): the learning rate is probably too high, "
        "or the initialization is bad"
    )
    assert trainer.stop_reason == reason
    assert capsys.readouterr().out.count(reason) == 1
    assert not (tmp_path / "checkpoints" / "last.safetensors").exists()  # the broken weights are not saved


def test_early_stopping_waits_patience_epochs():
    class Recorder:
        stopped = None

        def stop(self, reason, diverged=False):
            self.stopped = reason

    stopper, trainer = EarlyStopping(patience=2), Recorder()
    for epoch, accuracy in enumerate([0.5, 0.7, 0.69, 0.71, 0.70, 0.70], start=1):
        stopper.on_epoch_end(trainer, {"epoch": epoch, "val_accuracy": accuracy})
        if trainer.stopped:
            break
    assert epoch == 6 and stopper.best == 0.71 and stopper.best_epoch == 4
    assert (
        trainer.stopped
        == "early stopping: val_accuracy has not improved for 2 epochs (best 0.7100 at epoch 4)"
    )


def test_early_stopping_ends_a_run_that_stops_improving(tmp_path):
    class Worsen(Callback):  # from epoch 2 on, a learning rate that makes validation accuracy drop
        def on_epoch_end(self, trainer, record):
            for group in trainer.optimizer.param_groups:
                group["lr"] = 0.0

    trainer, train, val = make_run(tmp_path, callbacks=[EarlyStopping(patience=2), Worsen()])
    trainer.fit(train, val, epochs=10)
    assert trainer.epoch == 3 and trainer.stop_reason.startswith("early stopping")
    state = load_checkpoint(tmp_path / "checkpoints" / "best.safetensors")
    assert state["progress"]["epoch"] == 1


def test_plateau_schedule_is_given_the_validation_loss(tmp_path):
    seen = []

    class Watched(optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics, epoch=None):
            seen.append(metrics)
            super().step(metrics)

    trainer, train, val = make_run(tmp_path)
    trainer.scheduler = Watched(trainer.optimizer, patience=0, factor=0.5)
    trainer.scheduler_interval = "epoch"
    trainer.fit(train, val, epochs=2)
    assert seen == [record["val_loss"] for record in trainer.history]
    with pytest.raises(ValueError, match="per epoch"):
        Trainer(trainer.model, trainer.optimizer, scheduler=trainer.scheduler, scheduler_interval="step")


def test_a_scheduler_is_given_a_metric_when_it_declares_it_needs_one_whatever_its_name(tmp_path):
    seen = []

    class Watching(optim.lr_scheduler.LRScheduler):  # another name, no num_bad_epochs: only the flag
        needs_metric = True

        def step(self, metrics=None, epoch=None):
            seen.append(metrics)

    class Counting(optim.lr_scheduler.StepLR):  # has a plateau-like attribute but needs no metric
        num_bad_epochs = 0

        def step(self, *args):
            seen.append(args)
            super().step(*args)

    trainer, train, val = make_run(tmp_path)
    trainer.scheduler_interval = "epoch"
    trainer.scheduler = Watching(trainer.optimizer)
    seen.clear()
    trainer.fit(train, val, epochs=1)
    assert seen == [trainer.history[0]["val_loss"]]
    trainer.scheduler, seen[:] = Counting(trainer.optimizer, step_size=1), []
    trainer.fit(train, val, epochs=2)
    assert seen == [()]
    with pytest.raises(ValueError, match="Watching watches the validation loss"):
        Trainer(
            trainer.model, trainer.optimizer, scheduler=Watching(trainer.optimizer), scheduler_interval="step"
        )


def test_regularization_is_added_to_the_objective_not_the_logged_loss(tmp_path):
    from ember.nn import regularization

    trainer, train, _ = make_run(tmp_path)
    trainer.regularization = lambda model: regularization.l2(model, 1.0)
    logged = []

    class Watch(Callback):
        def on_train_batch_end(self, trainer, logs):
            logged.append((logs.loss, logs.objective))

    trainer.callbacks.append(Watch())
    trainer.fit(train, None, epochs=1)
    gaps = [objective - loss for loss, objective in logged]
    assert gaps[0] > 5 and gaps[-1] < gaps[0] / 2  # the penalty is in the objective, and shrinks the weights


def test_a_task_that_counts_no_accuracy_logs_none(tmp_path):
    """A detector's batches have no accuracy (``batch_correct`` gives None): the history, metrics.csv and
    steps.csv leave it out instead of showing 0%; the loss's terms (``loss_terms``) are averaged over the
    epoch as ``train_<name>``."""
    from dataclasses import dataclass

    from ember.train.tasks import Task

    @dataclass(frozen=True)
    class Uncounted(Task):
        def batch_correct(self, outputs, targets):
            return None, len(targets)

        def loss_terms(self, outputs):
            return {"loss_half": 0.5, "loss_count": float(len(outputs))}

    trainer, train, val = make_run(tmp_path, epochs=1)
    trainer.task = Uncounted("no accuracy")
    history = trainer.fit(train, val, epochs=1)
    assert "train_accuracy" not in history[0] and history[0]["val_accuracy"] > 0.5
    assert history[0]["train_loss_half"] == pytest.approx(0.5)
    assert history[0]["train_loss_count"] == pytest.approx(64.0)  # every batch of 640 images is 64
    assert "train_accuracy" not in read_csv(tmp_path / "metrics.csv")[0]
    steps = read_csv(tmp_path / "steps.csv")
    assert len(steps) == len(train) and all("accuracy" not in row and row["loss"] > 0 for row in steps)
