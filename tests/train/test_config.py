"""Configuration: every bad field is named before training starts; the recipe fills in the rest."""

from __future__ import annotations

import pytest

from ember.train.config import ConfigError, dump_config, load_config_file, merge, resolve_config


def problems(raw: dict) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as error:
        resolve_config(raw)
    return error.value.problems


def fields(raw: dict) -> list[str]:
    return [name for name, _ in problems(raw)]


def test_defaults_resolve_to_the_recipe():
    config = resolve_config({})
    assert (config.dataset, config.model, config.optimizer.name) == ("fashion-mnist", "small_cnn", "sgd")
    assert (config.optimizer.lr, config.optimizer.momentum, config.optimizer.nesterov) == (0.05, 0.9, True)
    assert config.schedule.interval == "step"  # cosine is stepped per iteration
    assert config.augment == ["flip"]
    assert config.epochs == 8
    mnist = resolve_config({"dataset": "mnist"})
    assert mnist.augment == ["crop"] and mnist.epochs == 12  # digits are not flipped
    assert resolve_config({"dataset": "mnist", "epochs": 3}).epochs == 3
    adam = resolve_config({"optimizer": {"name": "adam"}}).optimizer
    assert (adam.lr, adam.momentum, adam.nesterov) == (1e-3, None, None)


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"optimizer": {"lr": -0.1}}, "optimizer.lr", "must be a number > 0, got -0.1"),
        ({"optimizer": {"lr": "fast"}}, "optimizer.lr", "must be a number, got 'fast'"),
        ({"batch_size": 0}, "batch_size", "must be a number >= 1, got 0"),
        ({"epochs": 2.5}, "epochs", "must be an integer, got 2.5"),
        ({"dataset": "mnsit"}, "dataset", "unknown value 'mnsit' (did you mean 'mnist'?)"),
        ({"schedule": {"name": "cosin"}}, "schedule.name", "did you mean 'cosine'?"),
        ({"schedule": {"interval": "batch"}}, "schedule.interval", "unknown value 'batch'"),
        ({"optimiser": {"name": "adam"}}, "optimiser", "unknown field (did you mean 'optimizer'?)"),
        (
            {"optimizer": {"name": "adam", "momentum": 0.9}},
            "optimizer.momentum",
            "the adam optimizer has no 'momentum'",
        ),
        (
            {"optimizer": {"name": "sgd", "momentum": 0, "nesterov": True}},
            "optimizer.nesterov",
            "needs optimizer.momentum > 0",
        ),
        ({"optimizer": {"betas": [0.9]}}, "optimizer.betas", "must be two numbers"),
        ({"augment": "crop,spin"}, "augment[1]", "unknown value 'spin'"),
        ({"regularization": {"l2": -1}}, "regularization.l2", "must be a number >= 0"),
        ({"label_smoothing": 1.5}, "label_smoothing", "<= 1"),
        ({"subset": 100, "val_size": 500}, "val_size", "leave none of subset=100"),
        ({"name": "a/b"}, "name", "plain folder name"),
        ({"report": "maybe"}, "report", "must be true or false"),
        (
            {"epochs": 3, "schedule": {"warmup_epochs": 3}},
            "schedule.warmup_epochs",
            "3 warm-up epochs leave none of the run's 3 to the cosine schedule",
        ),
    ],
)
def test_errors_name_the_field(raw, field, message):
    found = problems(raw)
    assert any(name == field and message in text for name, text in found), found


def test_every_problem_is_reported_at_once():
    assert fields({"batch_size": -1, "epochs": 0, "seed": -3}) == ["batch_size", "epochs", "seed"]
    found = problems({"batch_size": "lots", "optimizer": {"name": "adamm", "lr": -1}})
    assert [name for name, _ in found] == ["batch_size", "optimizer.name", "optimizer.lr"]
    assert found[0][1] == "must be an integer, got 'lots'"  # not also "must be >= 1"


def test_unknown_model_names_the_field():
    pytest.importorskip("ember.models")
    found = problems({"model": "resnet9000"})
    assert found[0][0] == "model" and "unknown value 'resnet9000'" in found[0][1]


def test_values_from_strings_are_coerced():
    config = resolve_config({"epochs": "3", "optimizer": {"lr": "0.1", "nesterov": "false"}, "report": "no"})
    assert (config.epochs, config.optimizer.lr, config.optimizer.nesterov, config.report) == (
        3,
        0.1,
        False,
        False,
    )


def test_yaml_toml_and_json_files(tmp_path):
    (tmp_path / "a.yaml").write_text("dataset: mnist\noptimizer:\n  name: adam\n  lr: 0.002\nepochs: 3\n")
    (tmp_path / "a.toml").write_text(
        'dataset = "mnist"\nepochs = 3\n[optimizer]\nname = "adam"\nlr = 0.002\n'
    )
    (tmp_path / "a.json").write_text(
        '{"dataset": "mnist", "epochs": 3, "optimizer": {"name": "adam", "lr": 0.002}}'
    )
    configs = [
        resolve_config(load_config_file(tmp_path / f"a.{suffix}")) for suffix in ("yaml", "toml", "json")
    ]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0].optimizer.lr == 0.002 and configs[0].epochs == 3


def test_bad_files_are_reported(tmp_path):
    (tmp_path / "bad.toml").write_text("epochs = = 3")
    with pytest.raises(ConfigError, match=r"bad\.toml: cannot parse"):
        load_config_file(tmp_path / "bad.toml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config_file(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config_file(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a folder; --config takes a YAML, TOML or JSON file"):
        load_config_file(tmp_path)
    (tmp_path / "binary.yaml").write_bytes(b"\x1f\x8b\x08\x00\xff\xfe")  # e.g. a gzip file
    with pytest.raises(ConfigError, match=r"binary\.yaml: not a text file \(it is not UTF-8\)"):
        load_config_file(tmp_path / "binary.yaml")
    (tmp_path / "typo.yaml").write_text("optimizer:\n  lr: -1\n")
    with pytest.raises(
        ConfigError, match=r"invalid configuration in .*typo\.yaml:\n  optimizer\.lr: must be"
    ):
        resolve_config(load_config_file(tmp_path / "typo.yaml"), str(tmp_path / "typo.yaml"))


def test_the_saved_config_resolves_to_itself(tmp_path):
    config = resolve_config({"dataset": "mnist", "optimizer": {"name": "adam"}, "schedule": {"name": "step"}})
    dump_config(config, tmp_path / "config.yaml")
    assert resolve_config(load_config_file(tmp_path / "config.yaml")) == config


def test_merge_overrides_nested_fields():
    assert merge({"optimizer": {"name": "sgd", "lr": 1}}, {"optimizer": {"lr": 2}}) == {
        "optimizer": {"name": "sgd", "lr": 2}
    }
