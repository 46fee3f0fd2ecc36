"""Extending a run re-lays its schedule: from the run's position on, the rates (and cycled momenta) are those
of a run started with the new number of epochs; and the checks on a resumed run's configuration."""

from __future__ import annotations

import warnings

import pytest

from ember import nn
from ember.train import recipes
from ember.train.config import SCHEDULES, resolve_config
from ember.train.resuming import OVERRIDABLE, changed_fields, relay_schedule
from ember.train.trainer import needs_metric

STEPS_PER_EPOCH = 7


def pieces(name, epochs, **schedule):
    config = resolve_config({"epochs": epochs, "schedule": {"name": name, **schedule}})
    optimizer = recipes.build_optimizer(config, nn.Linear(3, 2))
    return config, optimizer, recipes.build_scheduler(config, optimizer, STEPS_PER_EPOCH)


def drive(config, optimizer, scheduler, epochs):
    """Step the schedule as the Trainer does for ``epochs`` epochs; the (lr, momentum) of every step."""
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no optimizer step here
        for epoch in range(epochs):
            for _ in range(STEPS_PER_EPOCH):
                group = optimizer.param_groups[0]
                seen.append((group["lr"], group.get("momentum")))
                if scheduler is not None and config.schedule.interval == "step":
                    scheduler.step()
            if scheduler is not None and config.schedule.interval == "epoch":
                scheduler.step(1.0 / (1 + epoch % 2)) if needs_metric(scheduler) else scheduler.step()
    return seen


CASES = [(name, {}) for name in SCHEDULES] + [
    ("cosine", {"warmup_epochs": 1}),
    ("step", {"options": {"step_size": 1, "gamma": 0.5}}),
    ("linear", {"interval": "epoch"}),
]


@pytest.mark.parametrize(("name", "schedule"), CASES, ids=[f"{n}{s or ''}" for n, s in CASES])
def test_an_extended_run_has_the_rates_of_the_longer_run(name, schedule):
    config, optimizer, scheduler = pieces(name, 3, **schedule)
    drive(config, optimizer, scheduler, 3)  # the run as it finished
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
    }

    stopped_at = optimizer.param_groups[0]["lr"]
    config, optimizer, scheduler = pieces(name, 5, **schedule)  # resumed with --epochs 5
    state = relay_schedule(scheduler, optimizer, state)
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    extended = drive(config, optimizer, scheduler, 2)

    longer = drive(*pieces(name, 5, **schedule), 5)  # the run started with --epochs 5
    assert extended == longer[3 * STEPS_PER_EPOCH :]  # to the last bit
    if name in ("cosine", "linear", "onecycle"):
        assert extended[0][0] > 2 * stopped_at  # a finished decay goes back up to the longer curve


def test_changed_fields_are_named_with_their_values():
    trained = resolve_config({"optimizer": {"lr": 0.1}, "seed": 0, "output": "runs", "name": "a"})
    edited = resolve_config(
        {"optimizer": {"lr": 0.5}, "seed": 7, "workers": 3, "output": "elsewhere", "name": "b"}
    )
    changes = changed_fields(trained, edited)
    assert changes == {"optimizer.lr": (0.1, 0.5), "seed": (0, 7), "workers": (1, 3)}  # not output or name
    assert "workers" in OVERRIDABLE and "seed" not in OVERRIDABLE
