"""Every optimizer against PyTorch: the same parameters after 200 steps on the same problems.

Problems (``problems.py``): a 10-D quadratic with condition number 100, two coupled Rosenbrock valleys, a
10-32-16-4 tanh MLP in float32 and a ReLU MLP in float64, each from identical initial weights and data. Each
optimizer runs several hyperparameter settings, including weight decay, ``maximize`` (on the negated problem),
Nesterov, AMSGrad, centered RMSprop, and two parameter groups with their own options. The tolerance is 1e-5
relative to the parameter's largest magnitude (LBFGS 1e-4, float64 1e-9).

The settings avoid chaotic regimes, where a trajectory amplifies rounding differences exponentially and two
correct implementations part: e.g. Adam with ``betas=(0.5, 0.9)`` or Adadelta with ``eps=1e-5`` on the
quadratic, or RMSprop with ``alpha=0.9`` on the MLP, end 1e-3 to 1e-1 apart from PyTorch, but PyTorch's own
float32 and float64 runs end as far apart (and so, for the first two, do Ember's and PyTorch's float64 runs).
L-BFGS reaches the float32 noise floor of its problem within 200 steps (Rosenbrock's minimum is resolved only
to about sqrt(float32 eps) ~ 3e-4); its float32 cases stop short of that, and float64 shows the algorithm
agrees.

"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.optim.problems import max_relative_error, run

GROUPS = "groups"  # marks the setting that splits the parameters into two groups

SETTINGS: dict[str, list[dict[str, Any]]] = {
    "SGD": [
        {"lr": 0.01},
        {"lr": 0.01, "momentum": 0.9},
        {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        {"lr": 0.01, "momentum": 0.5, "dampening": 0.3, "maximize": True},
        {
            "lr": 0.01,
            "momentum": 0.9,
            GROUPS: [{}, {"lr": 0.005, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}],
        },
    ],
    "Adagrad": [
        {"lr": 0.1},
        {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1},
        {"lr": 0.05, "maximize": True},
        {"lr": 0.1, GROUPS: [{}, {"lr": 0.02, "lr_decay": 0.05, "weight_decay": 0.01}]},
    ],
    "Adadelta": [
        {},
        {"lr": 0.5, "rho": 0.95, "weight_decay": 0.01},
        {"rho": 0.8, "maximize": True},
        {GROUPS: [{}, {"lr": 0.3, "rho": 0.99, "weight_decay": 0.1}]},
    ],
    "RMSprop": [
        {"lr": 1e-3},
        {"lr": 1e-3, "centered": True, "momentum": 0.9, "weight_decay": 0.01, "eps": 1e-6},
        {"lr": 1e-3, "alpha": 0.95, "momentum": 0.5, "maximize": True},
        {"lr": 1e-3, GROUPS: [{}, {"lr": 5e-4, "centered": True, "eps": 1e-6, "weight_decay": 0.1}]},
    ],
    "Adam": [
        {"lr": 0.01},
        {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01},
        {"lr": 0.005, "betas": (0.8, 0.99), "eps": 1e-6, "maximize": True},
        {"lr": 0.01, GROUPS: [{}, {"lr": 0.002, "amsgrad": True, "weight_decay": 0.1}]},
    ],
    "AdamW": [
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "amsgrad": True, "maximize": True},
        {"lr": 0.01, GROUPS: [{"weight_decay": 0.0}, {"lr": 0.005, "betas": (0.5, 0.999)}]},
    ],
}

# SGD's fixed step must be small on Rosenbrock's steep walls (its curvature reaches ~2000 at the start).
LR_SCALE = {("rosenbrock", "SGD"): 0.1}


def _cases() -> list[Any]:
    cases = []
    for optimizer, options in SETTINGS.items():
        for index, setting in enumerate(options):
            # the float64 ReLU network for two settings of each optimizer (the suite's time is finite)
            problems = ["quadratic", "rosenbrock", "mlp"] + (
                ["relu_mlp"] if index in (1, len(options) - 1) else []
            )
            for problem in problems:
                cases.append(pytest.param(problem, optimizer, setting, id=f"{optimizer}-{index}-{problem}"))
    return cases


@pytest.mark.parametrize(("problem", "optimizer", "setting"), _cases())
def test_matches_pytorch_after_200_steps(problem: str, optimizer: str, setting: dict[str, Any]) -> None:
    options = {k: v for k, v in setting.items() if k != GROUPS}
    scale = LR_SCALE.get((problem, optimizer), 1.0)
    if "lr" in options:
        options["lr"] *= scale
    groups = [
        dict(g, **({"lr": g["lr"] * scale} if "lr" in g else {})) for g in setting.get(GROUPS, [])
    ] or None
    ember_params, torch_params = run(problem, optimizer, options, groups)
    tolerance = 1e-9 if problem == "relu_mlp" else 1e-5
    assert max_relative_error(ember_params, torch_params) <= tolerance


STRONG_WOLFE = {"lr": 1.0, "max_iter": 5, "history_size": 10, "line_search_fn": "strong_wolfe"}
FIXED_STEP = {"lr": 0.1, "max_iter": 4, "history_size": 5}
ONE_ITERATION = {"lr": 1.0, "max_iter": 1, "history_size": 5, "line_search_fn": "strong_wolfe"}
SHORT_HISTORY = {
    "lr": 1.0,
    "max_iter": 3,
    "history_size": 3,
    "tolerance_grad": 1e-5,
    "line_search_fn": "strong_wolfe",
}
LBFGS_CASES = [
    ("quadratic", np.float32, STRONG_WOLFE, 1e-4),
    ("quadratic", np.float32, FIXED_STEP, 1e-4),
    ("quadratic", np.float32, ONE_ITERATION, 1e-4),
    ("rosenbrock", np.float32, STRONG_WOLFE, 1e-4),
    ("rosenbrock", np.float32, ONE_ITERATION, 1e-4),
    ("quadratic", np.float64, SHORT_HISTORY, 1e-9),
    ("rosenbrock", np.float64, STRONG_WOLFE, 1e-9),
    ("mlp", np.float64, STRONG_WOLFE, 1e-9),
    ("mlp", np.float64, FIXED_STEP, 1e-9),
    ("mlp", np.float64, SHORT_HISTORY, 1e-9),
    ("relu_mlp", np.float64, STRONG_WOLFE, 1e-9),
]


@pytest.mark.parametrize(("problem", "dtype", "setting", "tolerance"), LBFGS_CASES)
def test_lbfgs_matches_pytorch_after_200_steps(
    problem: str, dtype: Any, setting: dict[str, Any], tolerance: float
) -> None:
    ember_params, torch_params = run(problem, "LBFGS", setting, closure=True, dtype=dtype)
    assert max_relative_error(ember_params, torch_params) <= tolerance


@settings(max_examples=15, deadline=None)
@given(
    lr=st.floats(1e-4, 0.05),
    momentum=st.floats(0.0, 0.95),
    dampening=st.floats(0.0, 0.5),
    weight_decay=st.floats(0.0, 0.1),
    nesterov=st.booleans(),
    maximize=st.booleans(),
)
def test_sgd_matches_pytorch_for_random_hyperparameters(
    lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool, maximize: bool
) -> None:
    nesterov = nesterov and momentum > 0
    options = {
        "lr": lr,
        "momentum": momentum,
        "dampening": 0.0 if nesterov else dampening,
        "weight_decay": weight_decay,
        "nesterov": nesterov,
        "maximize": maximize,
    }
    ember_params, torch_params = run("quadratic", "SGD", options, steps=30)
    assert max_relative_error(ember_params, torch_params) <= 1e-5


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(["Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"]),
    lr=st.floats(1e-4, 0.05),
    decay=st.floats(0.5, 0.999),
    eps=st.sampled_from([1e-8, 1e-6, 1e-4]),
    weight_decay=st.floats(0.0, 0.1),
    flag=st.booleans(),
)
def test_adaptive_rules_match_pytorch_for_random_hyperparameters(
    name: str, lr: float, decay: float, eps: float, weight_decay: float, flag: bool
) -> None:
    options: dict[str, Any] = {"lr": lr, "eps": eps, "weight_decay": weight_decay}
    if name in ("Adam", "AdamW"):
        options.update(betas=(decay, 0.999), amsgrad=flag)
    elif name == "RMSprop":
        options.update(alpha=decay, centered=flag)
    elif name == "Adagrad":
        options.update(lr_decay=decay / 100)
    else:
        options.update(rho=decay, maximize=flag)
    ember_params, torch_params = run("rosenbrock", name, options, steps=30)
    assert max_relative_error(ember_params, torch_params) <= 1e-5
