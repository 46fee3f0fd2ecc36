"""``Monitor`` (``ember train --monitor``): per-epoch layer statistics, warnings when a check trips, and a
state that survives a resume."""

from __future__ import annotations

import json

import ember
from ember import nn, optim
from ember.data import DataLoader, TensorDataset
from ember.train import Trainer
from ember.train.doctor import Monitor, read_monitor

from .helpers import mnist_tensors


def fit(model, directory=None, epochs=3, lr=0.05, monitor_state=None, decay=False):
    x, y = mnist_tensors(600)
    data = DataLoader(TensorDataset(x, y), batch_size=50, shuffle=True, generator=ember.Generator(0))
    lines: list[str] = []
    monitor = Monitor(directory, batches=2, echo=lines.append, tensorboard=False)
    if monitor_state:
        monitor.load_state_dict(monitor_state)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    last = [(epochs - 1) * len(data)]  # the rate divided by 10,000 for the last epoch
    schedule = optim.lr_scheduler.MultiStepLR(optimizer, last, gamma=1e-4) if decay else None
    trainer = Trainer(model, optimizer, scheduler=schedule, scheduler_interval="step", callbacks=[monitor])
    trainer.fit(data, epochs=epochs)
    return monitor, lines


def mlp():
    ember.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def test_a_healthy_run_is_logged_per_epoch_without_warnings(tmp_path):
    _, lines = fit(mlp(), tmp_path)
    assert lines == []
    records = read_monitor(tmp_path)
    assert [r["epoch"] for r in records] == [1, 2, 3] and all(r["images"] == 100 for r in records)
    ratios = records[-1]["update_ratios"]
    assert set(ratios) == {"1.weight", "3.weight"} and all(1e-5 < r < 0.1 for r in ratios.values())
    assert records == [json.loads(line) for line in (tmp_path / "monitor.jsonl").read_text().splitlines()]


def test_a_schedule_that_decays_the_rate_is_not_a_rate_too_low():
    monitor, lines = fit(mlp(), decay=True)
    assert min(monitor.records[-1]["update_ratios"].values()) < 1e-5  # the last steps barely move
    assert lines == []


def test_dead_relus_warn_once_and_again_at_the_end_with_the_epoch_they_appeared_in():
    model = mlp()
    with ember.no_grad():
        model[1].bias.fill_(-100.0)
    monitor, lines = fit(model)
    dead = [line for line in lines if "of ReLUs dead" in line]
    assert dead[0].startswith("monitor: layer 2: 100% of ReLUs dead (never positive on any of 100 images)")
    assert dead[-1] == "monitor: layer 2: 100% of ReLUs dead since epoch 1"
    assert len(dead) == 2 and monitor.state_dict()["since"]["dead 2"] == 1
    assert "monitor: 1.weight: its gradient is exactly 0 since epoch 1" in lines


def test_a_learning_rate_too_high_kills_relus_and_the_warning_says_so():
    """ "Use ReLU. Be careful with your learning rates": at lr 3 the hidden layer dies in the first epoch."""
    monitor, lines = fit(mlp(), lr=3.0, epochs=2)
    assert lines[0].startswith("monitor: layer 2: ") and "of ReLUs dead" in lines[0]
    assert "a learning rate too high killed them" in lines[0]
    assert monitor.records[0]["layers"]["2"][2] > 0.5


def test_the_epoch_a_problem_appeared_in_survives_a_resume():
    model = mlp()
    with ember.no_grad():
        model[1].bias.fill_(-100.0)
    _, lines = fit(model, epochs=1, monitor_state={"since": {"dead 2": 1}})
    dead = [line for line in lines if "ReLUs dead" in line]
    assert dead == ["monitor: layer 2: 100% of ReLUs dead since epoch 1"]  # not announced again
