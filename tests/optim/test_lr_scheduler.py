"""Every schedule against PyTorch: the same learning rate in every group at every one of 300 steps.

Both sides run the same loop (``optimizer.step(); scheduler.step()``) on an optimizer with two parameter
groups of different base rates; ``get_last_lr()`` and the groups' ``lr`` (and the cycled momentum) must be
equal to 1e-12 relative. Resuming (``last_epoch``), ``step(epoch)``'s closed forms, ``state_dict`` round
trips, the composite schedules and ReduceLROnPlateau's modes are covered; InverseTimeLR and InverseSqrtLR,
which PyTorch lacks, are checked against their formulas.

"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as torch_sched

import ember
import ember.nn
import ember.optim
from ember.optim import lr_scheduler as ember_sched

STEPS = 300


def _optimizer(lib: str, kind: str = "SGD") -> Any:
    if lib == "torch":
        params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
        module: Any = torch.optim
    else:
        params = [ember.nn.Parameter(ember.zeros(2)), ember.nn.Parameter(ember.zeros(3))]
        module = ember.optim
    groups = [{"params": params[:1]}, {"params": params[1:], "lr": 0.05}]
    optimizer = module.Adam(groups, lr=0.1) if kind == "Adam" else module.SGD(groups, lr=0.1, momentum=0.9)
    # Schedules only read and write param_groups: skip the (gradient-free) optimizer steps' cost by replacing
    # step() with what a scheduler checks of it (that it was called).
    optimizer.step = types.MethodType(
        lambda self, closure=None: setattr(self, "_opt_called", True), optimizer
    )
    return optimizer


def _trace(lib: str, build: Callable[[Any, Any], Any], kind: str = "SGD", steps: int = STEPS) -> list[Any]:
    """The learning rates (and momenta) after construction and after each of ``steps`` steps."""
    optimizer = _optimizer(lib, kind)
    scheduler = build(torch_sched if lib == "torch" else ember_sched, optimizer)
    trace = []
    for step in range(steps + 1):
        if step:
            optimizer.step()
            scheduler.step()
        momentum = [g.get("momentum", g.get("betas", (0,))[0]) for g in optimizer.param_groups]
        trace.append((list(scheduler.get_last_lr()), [g["lr"] for g in optimizer.param_groups], momentum))
    return trace


def _assert_same(ember_trace: list[Any], torch_trace: list[Any]) -> None:
    assert len(ember_trace) == len(torch_trace)
    for step, (ours, theirs) in enumerate(zip(ember_trace, torch_trace, strict=True)):
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=f"step {step}")


SCHEDULES: dict[str, Callable[[Any, Any], Any]] = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.97**e),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 0.97**e, lambda e: 1 / (1 + 0.1 * e)]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.98),
    "StepLR": lambda m, o: m.StepLR(o, step_size=30, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[50, 120, 120, 200], gamma=0.3),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=40),
    "LinearLR-warmup": lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=50),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=200),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.99),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=250, power=2.0),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=100, eta_min=1e-4),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=20, T_mult=2, eta_min=1e-5
    ),
    "CosineAnnealingWarmRestarts-fixed": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=30),
    "CyclicLR-triangular": lambda m, o: m.CyclicLR(
        o, base_lr=[0.001, 0.002], max_lr=[0.1, 0.05], step_size_up=25
    ),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(
        o, base_lr=0.001, max_lr=0.1, step_size_up=20, step_size_down=35, mode="triangular2"
    ),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(
        o, base_lr=0.001, max_lr=0.1, step_size_up=15, mode="exp_range", gamma=0.995, cycle_momentum=False
    ),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[0.1, 0.3], total_steps=STEPS),
    "OneCycleLR-three-phase-linear": lambda m, o: m.OneCycleLR(
        o, max_lr=0.1, epochs=10, steps_per_epoch=30, three_phase=True, anneal_strategy="linear"
    ),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o,
        [m.LinearLR(o, start_factor=0.1, total_iters=20), m.CosineAnnealingLR(o, T_max=280)],
        milestones=[20],
    ),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o,
        [m.ConstantLR(o, factor=0.5, total_iters=10), m.ExponentialLR(o, 0.98), m.StepLR(o, 25, 0.5)],
        milestones=[10, 100],
    ),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.5, total_iters=10), m.ExponentialLR(o, gamma=0.99)]
    ),
    "ChainedScheduler-warmup-cosine": lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.2, total_iters=30), m.CosineAnnealingLR(o, T_max=150, eta_min=0.001)], o
    ),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_pytorch_for_300_steps(name: str) -> None:
    _assert_same(_trace("ember", SCHEDULES[name]), _trace("torch", SCHEDULES[name]))


@pytest.mark.parametrize("mode", ["triangular", "exp_range"])
def test_cyclic_and_one_cycle_cycle_adams_beta1(mode: str) -> None:
    def cyclic(m: Any, o: Any) -> Any:
        return m.CyclicLR(o, 0.001, 0.01, step_size_up=10, mode=mode, gamma=0.99, base_momentum=0.8)

    _assert_same(_trace("ember", cyclic, "Adam"), _trace("torch", cyclic, "Adam"))

    def one_cycle(m: Any, o: Any) -> Any:
        return m.OneCycleLR(o, max_lr=0.01, total_steps=STEPS, pct_start=0.25)

    _assert_same(_trace("ember", one_cycle, "Adam"), _trace("torch", one_cycle, "Adam"))


@settings(max_examples=12, deadline=None)
@given(
    step_size=st.integers(1, 60),
    gamma=st.floats(0.1, 1.0),
    t_max=st.integers(1, 200),
    eta_min=st.floats(0.0, 0.01),
    up=st.integers(1, 50),
    down=st.integers(1, 50),
)
def test_random_hyperparameters_match_pytorch(
    step_size: int, gamma: float, t_max: int, eta_min: float, up: int, down: int
) -> None:
    for build in (
        lambda m, o: m.StepLR(o, step_size, gamma),
        lambda m, o: m.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min),
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=step_size, T_mult=1 + up % 3, eta_min=eta_min),
        lambda m, o: m.CyclicLR(o, eta_min, 0.2, step_size_up=up, step_size_down=down, mode="triangular2"),
        lambda m, o: m.LinearLR(o, start_factor=max(gamma, 1e-3), end_factor=eta_min, total_iters=t_max),
    ):
        _assert_same(_trace("ember", build, steps=120), _trace("torch", build, steps=120))


# ------------------------------------------------------------------------------------------------------
# Resuming


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "name",
    ["StepLR", "ExponentialLR", "CosineAnnealingLR", "PolynomialLR", "LinearLR-decay", "CyclicLR-triangular"],
)
def test_last_epoch_resumes_like_pytorch(name: str) -> None:
    """A scheduler built with ``last_epoch=49`` on an optimizer that has ``initial_lr`` (a resumed run)."""

    def trace(lib: str) -> list[Any]:
        optimizer = _optimizer(lib)
        for group in optimizer.param_groups:
            group["initial_lr"] = group["lr"]
        module = torch_sched if lib == "torch" else ember_sched
        scheduler = SCHEDULES[name](_LastEpoch(module, 49), optimizer)
        rates = []
        for _ in range(100):
            rates.append(list(scheduler.get_last_lr()))
            optimizer.step()
            scheduler.step()
        return rates

    np.testing.assert_allclose(trace("ember"), trace("torch"), rtol=1e-12)


class _LastEpoch:
    """The scheduler module, with ``last_epoch`` passed to every scheduler's constructor."""

    def __init__(self, module: Any, last_epoch: int) -> None:
        self.module, self.last_epoch = module, last_epoch

    def __getattr__(self, name: str) -> Any:
        cls = getattr(self.module, name)
        return lambda *args, **kwargs: cls(*args, last_epoch=self.last_epoch, **kwargs)


def test_last_epoch_without_initial_lr_is_an_error() -> None:
    with pytest.raises(KeyError, match="initial_lr"):
        ember_sched.StepLR(_optimizer("ember"), 10, last_epoch=5)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "ConstantLR"]
)
def test_step_with_epoch_uses_the_closed_form_like_pytorch(name: str) -> None:
    def trace(lib: str) -> list[Any]:
        optimizer = _optimizer(lib)
        scheduler = SCHEDULES[name](torch_sched if lib == "torch" else ember_sched, optimizer)
        rates = []
        for epoch in (3, 7, 30, 31, 45, 120, 121, 299):
            optimizer.step()
            scheduler.step(epoch)
            rates.append(list(scheduler.get_last_lr()))
        return rates

    np.testing.assert_allclose(trace("ember"), trace("torch"), rtol=1e-12)


def test_warm_restarts_accepts_fractional_epochs_like_pytorch() -> None:
    def trace(lib: str) -> list[Any]:
        optimizer = _optimizer(lib)
        module = torch_sched if lib == "torch" else ember_sched
        scheduler = module.CosineAnnealingWarmRestarts(optimizer, T_0=10, T_mult=2)
        rates = []
        for epoch in np.arange(0, 60, 0.37):
            optimizer.step()
            scheduler.step(float(epoch))
            rates.append(list(scheduler.get_last_lr()))
        return rates

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(trace("ember"), trace("torch"), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_state_dict_round_trip_continues_the_schedule(name: str) -> None:
    """Stop after 150 steps, load the scheduler's and optimizer's state_dicts into fresh ones, continue."""
    build = SCHEDULES[name]
    optimizer = _optimizer("ember")
    scheduler = build(ember_sched, optimizer)
    for _ in range(150):
        optimizer.step()
        scheduler.step()
    saved_scheduler, saved_optimizer = scheduler.state_dict(), optimizer.state_dict()
    uninterrupted = []
    for _ in range(150):
        optimizer.step()
        scheduler.step()
        uninterrupted.append(scheduler.get_last_lr())

    fresh_optimizer = _optimizer("ember")
    fresh = build(ember_sched, fresh_optimizer)
    fresh_optimizer.load_state_dict(saved_optimizer)
    fresh.load_state_dict(saved_scheduler)
    resumed = []
    for _ in range(150):
        fresh_optimizer.step()
        fresh.step()
        resumed.append(fresh.get_last_lr())
    assert resumed == uninterrupted


def test_state_dict_holds_what_pytorchs_does() -> None:
    ours = ember_sched.CosineAnnealingLR(_optimizer("ember"), T_max=10).state_dict()
    theirs = torch_sched.CosineAnnealingLR(_optimizer("torch"), T_max=10).state_dict()
    for key in ("T_max", "eta_min", "base_lrs", "last_epoch", "_step_count", "_last_lr"):
        assert ours[key] == theirs[key]
    assert "optimizer" not in ours


def test_stepping_the_scheduler_before_the_optimizer_warns() -> None:
    scheduler = ember_sched.StepLR(_optimizer("ember"), 10)
    with pytest.warns(UserWarning, match=r"before `optimizer.step\(\)`"):
        scheduler.step()


# ------------------------------------------------------------------------------------------------------
# ReduceLROnPlateau


def _metrics() -> list[float]:
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [np.linspace(1.0, 0.5, 60), np.full(80, 0.5), np.linspace(0.5, 0.45, 60), np.full(100, 0.45)]
    )
    return list(values + rng.normal(0, 1e-3, values.size))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"mode": "max", "factor": 0.5, "patience": 3},
        {"threshold_mode": "abs", "threshold": 1e-3, "patience": 5, "cooldown": 4},
        {"factor": 0.3, "patience": 2, "cooldown": 10, "min_lr": [0.01, 0.001]},
        {
            "mode": "max",
            "threshold_mode": "abs",
            "threshold": 0.01,
            "patience": 0,
            "min_lr": 0.02,
            "eps": 1e-3,
        },
    ],
)
def test_reduce_on_plateau_matches_pytorch(options: dict[str, Any]) -> None:
    def trace(lib: str) -> list[Any]:
        optimizer = _optimizer(lib)
        module = torch_sched if lib == "torch" else ember_sched
        scheduler = module.ReduceLROnPlateau(optimizer, **options)
        rates = []
        for metric in _metrics():
            optimizer.step()
            scheduler.step(metric)
            rates.append(
                (list(scheduler.get_last_lr()), scheduler.num_bad_epochs, scheduler.cooldown_counter)
            )
        return rates

    ours, theirs = trace("ember"), trace("torch")
    assert ours == theirs
    assert len({tuple(rates) for rates, _, _ in ours}) > 1  # the rate did change


def test_reduce_on_plateau_state_dict_round_trip() -> None:
    optimizer = _optimizer("ember")
    scheduler = ember_sched.ReduceLROnPlateau(optimizer, patience=2, cooldown=3)
    metrics = _metrics()
    for metric in metrics[:100]:
        scheduler.step(metric)
    fresh = ember_sched.ReduceLROnPlateau(_optimizer("ember"), patience=7)
    fresh.load_state_dict(scheduler.state_dict())
    assert fresh.patience == 2 and fresh.best == scheduler.best
    assert fresh.is_better(scheduler.best - 1, scheduler.best)


# ------------------------------------------------------------------------------------------------------
# The lectures' schedules that PyTorch lacks


@pytest.mark.parametrize("decay_rate", [0.0, 0.01, 0.5])
def test_inverse_time_decay_follows_its_formula(decay_rate: float) -> None:
    trace = _trace("ember", lambda m, o: m.InverseTimeLR(o, decay_rate))
    for t, (last, lrs, _) in enumerate(trace):
        expected = [0.1 / (1 + decay_rate * t), 0.05 / (1 + decay_rate * t)]
        np.testing.assert_allclose(last, expected, rtol=1e-12)
        assert last == lrs
    # PyTorch has it as a LambdaLR: the same rates
    reference = _trace("torch", lambda m, o: m.LambdaLR(o, lambda t: 1 / (1 + decay_rate * t)))
    _assert_same(trace, reference)


@pytest.mark.parametrize("warmup", [0, 1, 10, 37])
def test_inverse_sqrt_decay_follows_its_formula(warmup: int) -> None:
    trace = _trace("ember", lambda m, o: m.InverseSqrtLR(o, warmup_steps=warmup))
    w = max(warmup, 1)
    for t, (last, _, _) in enumerate(trace):
        factor = min((t + 1) / w, math.sqrt(w / (t + 1)))
        np.testing.assert_allclose(last, [0.1 * factor, 0.05 * factor], rtol=1e-12)
    peak = max(range(len(trace)), key=lambda t: trace[t][0][0])
    assert peak == w - 1 and trace[peak][0][0] == pytest.approx(0.1)
    if warmup == 0:  # the lecture's a0 / sqrt(t), t counted from 1
        assert [trace[t][0][0] for t in (0, 3, 99)] == pytest.approx([0.1, 0.05, 0.01])


def test_new_schedules_resume_and_chain() -> None:
    optimizer = _optimizer("ember")
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]
    resumed = ember_sched.InverseSqrtLR(optimizer, warmup_steps=10, last_epoch=99)
    assert resumed.get_last_lr()[0] == pytest.approx(0.1 * math.sqrt(10 / 101), rel=1e-12)

    optimizer = _optimizer("ember")
    chained = ember_sched.ChainedScheduler(
        [ember_sched.InverseTimeLR(optimizer, 0.1), ember_sched.ExponentialLR(optimizer, 0.9)]
    )
    for t in range(1, 50):
        optimizer.step()
        chained.step()
        assert chained.get_last_lr()[0] == pytest.approx(0.1 * 0.9**t / (1 + 0.1 * t), rel=1e-12)


def test_invalid_arguments_are_refused() -> None:
    optimizer = _optimizer("ember")
    with pytest.raises(ValueError):
        ember_sched.InverseTimeLR(optimizer, -1.0)
    with pytest.raises(ValueError):
        ember_sched.InverseSqrtLR(optimizer, warmup_steps=-2)
    with pytest.raises(ValueError, match=r"Factor should be < 1\.0"):
        ember_sched.ReduceLROnPlateau(optimizer, factor=1.5)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        ember_sched.StepLR(object(), 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        ember_sched.SequentialLR(
            optimizer, [ember_sched.ReduceLROnPlateau(optimizer), ember_sched.StepLR(optimizer, 2)], [3]
        )
