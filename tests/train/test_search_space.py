"""The search space and settings: reading, checking against the training configuration, grids, and the
coarse-to-fine narrowing rule with its numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from ember.train.config import ConfigError
from ember.train.search.settings import (
    SearchSettings,
    Stage,
    check_settings,
    plan_stages,
    read_settings,
    top_k,
)
from ember.train.search.space import (
    Param,
    at_edge,
    check_space,
    grid_values,
    narrow,
    parse_param,
    parse_space,
)

ALIASES = {"lr": "optimizer.lr", "weight-decay": "optimizer.weight_decay"}
BASE = {"dataset": "mnist", "model": "mlp", "epochs": 2}


def one(name: str, spec: object) -> tuple[Param | None, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    return parse_param(name, spec, f"--param {name}", problems, ALIASES), problems


def test_flags_and_mappings_give_the_same_parameters():
    assert one("lr", "log:1e-4:0.1")[0] == Param("optimizer.lr", "log", 1e-4, 0.1)
    assert one("weight-decay", {"scale": "log", "low": 1e-6, "high": 1e-2})[0] == Param(
        "optimizer.weight_decay", "log", 1e-6, 1e-2
    )
    assert one("model_options.dropout", "uniform:0:0.5")[0] == Param(
        "model_options.dropout", "uniform", 0.0, 0.5
    )
    assert one("batch_size", "int:32:256")[0] == Param("batch_size", "int", 32.0, 256.0)
    assert one("optimizer.name", "choice:sgd,adam")[0] == Param(
        "optimizer.name", "choice", choices=("sgd", "adam")
    )
    assert one("x", {"choices": [1, 2.5, True]})[0] == Param("x", "choice", choices=(1, 2.5, True))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("log:0:0.1", "a log range must be above 0"),
        ("log:0.1:0.01", "low must be below high"),
        ("cubic:1:2", "unknown scale 'cubic'"),
        ("int:1.5:4", "an int range needs whole numbers"),
        ("log:1e-4", "expected SCALE:LOW:HIGH"),
        ("uniform:a:1", "--param lr.low: must be a number, got 'a'"),
        ("choice:", "a choice needs a list of options"),
        ({"scale": "log", "low": 1e-4, "high": 1, "step": 2}, "unknown key(s) step"),
    ],
)
def test_a_bad_range_is_refused_naming_the_parameter(spec, message):
    param, problems = one("lr", spec)
    assert param is None
    text = "; ".join(f"{name}: {text}" for name, text in problems)
    assert message in text and text.startswith("--param lr")


def test_a_config_files_space_names_each_bad_entry():
    space, problems = parse_space(
        {"lr": "log:1e-4:0.1", "momentum": "uniform:1:0", "lr ": "log:1e-3:1"}, aliases=ALIASES
    )
    assert [param.name for param in space] == ["optimizer.lr"]
    assert ("search.space.momentum", "low must be below high, got 1..0") in problems
    assert ("search.space", "optimizer.lr is given twice") in problems


def test_every_end_of_a_range_is_checked_by_the_training_configuration():
    with pytest.raises(ConfigError) as caught:
        check_space(
            [Param("optimizer.momentum", "uniform", 0.5, 1.5), Param("optimizer.lrr", "log", 1e-3, 1)], BASE
        )
    text = str(caught.value)
    assert (
        "search.space.optimizer.momentum: at 1.5: optimizer.momentum: must be a number >= 0 and <= 1" in text
    )
    assert (
        "search.space.optimizer.lrr: at 0.001: optimizer.lrr: unknown field (did you mean 'optimizer.lr'?)"
        in text
    )


def test_a_model_option_is_checked_by_building_the_model():
    check_space([Param("model_options.hidden", "choice", choices=([32], [64, 32]))], BASE)  # lists are fine
    with pytest.raises(
        ConfigError, match=r"search.space.model_options.depth: at 1: model_options: mlp does not"
    ):
        check_space([Param("model_options.depth", "int", 1, 3)], BASE)


def test_an_empty_space_says_how_to_give_one():
    with pytest.raises(ConfigError, match="no parameters to search: give --param"):
        check_space([], BASE)


def test_grid_values_are_spread_on_the_scale():
    assert grid_values(Param("lr", "log", 1e-4, 1e-2), 3) == [1e-4, 1e-3, 1e-2]
    assert grid_values(Param("p", "uniform", 0, 0.5), 3) == [0.0, 0.25, 0.5]
    assert grid_values(Param("n", "int", 1, 3), 5) == [1, 2, 3]
    assert grid_values(Param("n", "int", 16, 256), 3) == [16, 136, 256]  # evenly on a linear scale
    assert grid_values(Param("o", "choice", choices=("sgd", "adam")), 7) == ["sgd", "adam"]


def test_narrowing_is_the_top_trials_span_widened_by_half_each_side_on_the_log_scale():
    original = Param("lr", "log", 1e-5, 1.0)
    narrowed = narrow(original, original, [1e-3, 1e-2, 3e-3])
    # span 10^-3 .. 10^-2 (width 1 decade), widened by half a decade each side
    assert narrowed.low == pytest.approx(10**-3.5) and narrowed.high == pytest.approx(10**-1.5)


def test_narrowing_around_one_value_keeps_a_tenth_of_the_range_and_stays_inside_it():
    original = Param("p", "uniform", 0.0, 1.0)
    alone = narrow(original, original, [0.5, 0.5])
    assert (alone.low, alone.high) == pytest.approx((0.45, 0.55))  # w = 0.1 (a tenth), +-0.05
    clipped = narrow(original, original, [0.9, 1.0])
    assert (clipped.low, clipped.high) == pytest.approx((0.85, 1.0))  # 1.05 clipped to the original's end


def test_narrowing_ints_rounds_outwards_and_choices_keep_what_the_best_used():
    original = Param("n", "int", 16, 256)
    narrowed = narrow(original, original, [64, 100])
    assert (narrowed.low, narrowed.high) == (46.0, 118.0)  # 64 - 18 = 46, 100 + 18 = 118
    choice = Param("o", "choice", choices=("sgd", "adam", "rmsprop"))
    assert narrow(choice, choice, ["adam", "sgd", "adam"]).choices == ("sgd", "adam")


def test_a_later_stage_narrows_within_the_original_range():
    original = Param("lr", "log", 1e-4, 1.0)
    second = narrow(original, original, [1e-2, 1e-1])  # 10^-2.5 .. 10^-0.5
    third = narrow(second, original, [0.05, 0.06])  # span 0.08 decades < 0.4 (a tenth of 4): w = 0.4
    assert math.log10(third.low) == pytest.approx(math.log10(0.05) - 0.2)
    assert math.log10(third.high) == pytest.approx(math.log10(0.06) + 0.2)


def test_a_best_value_at_the_edge_is_pointed_out():
    original = Param("lr", "log", 1e-4, 1.0)
    assert at_edge(original, original, [0.99, 0.1]) == "high"
    assert at_edge(original, original, [1e-4]) == "low"
    assert at_edge(original, original, [1e-2]) is None


def test_settings_read_from_a_section_and_flags_with_problems_named():
    settings, problems = read_settings(
        {"strategy": "coarse-to-fine", "trials": "16,8", "epochs": [2, 6], "widen": "0.25"}
    )
    assert (settings.trials, settings.epochs, settings.widen, problems) == ([16, 8], [2, 6], 0.25, [])
    settings, problems = read_settings({"trails": 3, "workers": "two"})
    assert (
        problems[0][0],
        problems[0][1][: len("unknown setting; known: space, strategy, trials")],
    ) == ("search.trails", "unknown setting; known: space, strategy, trials")
    assert ("search.workers", "must be an integer, got 'two'") in problems
    checks: list[tuple[str, str]] = []
    check_settings(SearchSettings(strategy="bayes", pruner="mean", storage="redis://x", heartbeat=0), checks)
    names = [name for name, _ in checks]
    assert names == ["search.strategy", "search.pruner", "search.heartbeat", "search.storage"]


def test_stages_have_the_strategys_defaults_and_refuse_what_does_not_fit():
    assert plan_stages(SearchSettings(), 8, None) == [Stage(16, 8)]
    assert plan_stages(SearchSettings(strategy="coarse-to-fine"), 8, None) == [Stage(16, 2), Stage(8, 8)]
    three = SearchSettings(strategy="coarse-to-fine", trials=[12, 6, 3])
    assert plan_stages(three, 8, None) == [Stage(12, 2), Stage(6, 4), Stage(3, 8)]
    assert plan_stages(SearchSettings(strategy="grid"), 8, 9) == [Stage(9, 8)]
    with pytest.raises(ConfigError, match="a grid runs each of its 9 points once"):
        plan_stages(SearchSettings(strategy="grid", trials=[4]), 8, 9)
    with pytest.raises(ConfigError, match="give trials and epochs for each of the 3 stages"):
        plan_stages(SearchSettings(strategy="coarse-to-fine", trials=[8, 4, 2], epochs=[1, 2]), 8, None)
    with pytest.raises(ConfigError, match="one stage with strategy random"):
        plan_stages(SearchSettings(trials=[8, 4]), 8, None)


def test_the_next_stage_is_drawn_around_a_quarter_of_the_trials_and_at_least_two():
    assert [top_k(SearchSettings(), n) for n in (1, 2, 5, 16, 17)] == [1, 2, 2, 4, 5]
    assert top_k(SearchSettings(top_k=3), 10) == 3


def test_the_plots_of_a_search_with_no_finished_trial_draw_without_warnings(tmp_path):
    """A search stopped in its first trial (Ctrl-C) still writes its page: no empty legend warnings."""
    pytest.importorskip("matplotlib")
    import warnings

    from ember.train.search import plots

    space = [Param("optimizer.lr", "log", 1e-3, 0.5)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_objective([], space, tmp_path / "objective.png", {1: space})
        plots.plot_history([], tmp_path / "history.png")
        plots.plot_parallel([], space, tmp_path / "parallel.png")
        plots.plot_top_curves([], tmp_path / "curves.png")
    assert all((tmp_path / f"{name}.png").stat().st_size > 0 for name in ("objective", "history", "curves"))
