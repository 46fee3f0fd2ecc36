"""One table per name family: the configuration, the builders and the command's help read the same one,
and a name that is not in it raises, naming the closest ones, instead of falling through to a default."""

from __future__ import annotations

import pytest

import ember
from ember import nn
from ember.cli import build_parser
from ember.data import transforms as T
from ember.optim import lr_scheduler as S
from ember.registry import Registry, UnknownNameError
from ember.train import recipes
from ember.train.config import ConfigError, resolve_config
from ember.train.datasets import DATASETS
from ember.train.registries import AUGMENTATIONS, OPTIMIZERS, SCHEDULES


def test_an_unknown_name_raises_with_the_closest_ones():
    registry = Registry("colour", entries={"red": 1, "green": 2})
    assert registry["red"] == 1 and list(registry) == ["red", "green"]
    assert registry.choices() == "red or green"
    with pytest.raises(UnknownNameError, match=r"unknown colour 'gren' \(did you mean green\?\); choose one"):
        registry["gren"]
    with pytest.raises(ValueError, match="already registered"):
        registry.register("red", 3)


def built(name, epochs=4, **schedule):
    config = resolve_config({"epochs": epochs, "schedule": {"name": name, **schedule}})
    optimizer = recipes.build_optimizer(config, nn.Linear(3, 2))
    return config, recipes.build_scheduler(config, optimizer, steps_per_epoch=5)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_each_schedule_builds_the_class_its_entry_names(name):
    config, scheduler = built(name)
    assert config.schedule.interval == SCHEDULES[name].interval
    if name == "constant":
        assert scheduler is None  # nothing to schedule
    else:
        assert type(scheduler) is SCHEDULES[name].cls
        assert scheduler.needs_metric == SCHEDULES[name].needs_metric


def test_a_warm_up_comes_before_the_schedule_that_takes_one():
    _, scheduler = built("step", warmup_epochs=1)
    assert type(scheduler) is S.SequentialLR


@pytest.mark.parametrize("name", ["plateau", "onecycle"])
def test_a_warm_up_is_refused_where_the_schedule_takes_none(name):
    with pytest.raises(ConfigError, match=f"schedule.warmup_epochs: the {name} schedule takes no warm-up"):
        built(name, warmup_epochs=1)


def test_a_name_missing_from_the_table_raises_and_never_falls_through():
    config = resolve_config({"epochs": 2})
    config.schedule.name = "cosin"  # set after the checks: the builder must not guess
    optimizer = recipes.build_optimizer(config, nn.Linear(3, 2))
    with pytest.raises(UnknownNameError, match="did you mean cosine"):
        recipes.build_scheduler(config, optimizer, steps_per_epoch=5)


def test_the_optimizers_get_their_entrys_class_and_defaults():
    for name, entry in OPTIMIZERS.items():
        config = resolve_config({"optimizer": {"name": name}})
        optimizer = recipes.build_optimizer(config, nn.Linear(3, 2))
        assert type(optimizer) is entry.cls
        assert optimizer.param_groups[0]["lr"] == entry.defaults["lr"]


def test_augmentations_are_built_from_their_entries():
    before, after = recipes.augmentations(list(AUGMENTATIONS), DATASETS["cifar10"])
    kinds = [type(t) for t in before]
    assert kinds == [T.RandomCrop, T.RandomHorizontalFlip, T.RandomAffine, T.ColorJitter]
    assert [type(t) for t in after] == [T.RandomErasing]


def test_the_train_help_lists_every_registered_name():
    _, commands = build_parser()
    text = commands["train"].format_help()
    for registry in (OPTIMIZERS, SCHEDULES, AUGMENTATIONS, DATASETS):
        for name in registry:
            assert name in text, f"{registry.family} {name} is not in 'ember train --help'"
    for name, entry in SCHEDULES.items():
        assert f"{name:14} {entry.help}" in text


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_an_optimizers_state_slots_are_the_buffers_it_keeps(name):
    """The memory estimate counts ``state_slots`` tensors of each parameter's size: what a step keeps."""
    model = nn.Linear(3, 2)
    config = resolve_config({"optimizer": {"name": name}})
    optimizer = recipes.build_optimizer(config, model)
    model(ember.ones(4, 3)).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()["state"][0]
    shaped = [key for key, value in state.items() if getattr(value, "shape", ()) == model.weight.shape]
    assert len(shaped) == OPTIMIZERS[name].state_slots, shaped
