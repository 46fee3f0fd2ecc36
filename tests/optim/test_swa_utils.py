"""``ember.optim.swa_utils`` against ``torch.optim.swa_utils``: the same sequence of weights goes into both
AveragedModels (SWA, EMA by ``multi_avg_fn`` and by ``avg_fn``, with and without the buffers), both
``update_bn`` see the same batches, both SWALRs the same optimizer; the results must agree to float32
rounding (1e-6 relative), not to the bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch.optim import swa_utils as torch_swa

import ember
import ember.nn
from ember.optim import swa_utils

RTOL, ATOL = 1e-6, 1e-7


def _pair() -> tuple[ember.nn.Module, torch.nn.Module]:
    ours = ember.nn.Sequential(
        ember.nn.Linear(4, 6), ember.nn.BatchNorm1d(6), ember.nn.ReLU(), ember.nn.Linear(6, 3)
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 3)
    )
    return ours, theirs


def _load(ours: ember.nn.Module, theirs: torch.nn.Module, rng: np.random.Generator) -> None:
    """The same new random weights and batch-norm statistics in both (one point of a trajectory)."""
    for (_, p), q in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
        if p.array.dtype.kind == "f":
            value = rng.normal(size=p.shape).astype(np.float32) + (1.0 if "running_var" in _ else 0.0)
            value = np.abs(value) if "running_var" in _ else value
        else:
            value = rng.integers(0, 50, size=p.shape).astype(p.array.dtype)
        p.array[...] = value
        q.copy_(torch.from_numpy(value.copy()))


def _close(ours: ember.nn.Module, theirs: torch.nn.Module) -> None:
    mine, other = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(other)
    for name, value in mine.items():
        np.testing.assert_allclose(value.array, other[name].numpy(), rtol=RTOL, atol=ATOL, err_msg=name)


AVERAGING: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "swa": ({}, {}),
    "swa-fn": ({"avg_fn": swa_utils.get_swa_avg_fn()}, {"avg_fn": torch_swa.get_swa_avg_fn()}),
    "ema-multi": (
        {"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(0.9)},
        {"multi_avg_fn": torch_swa.get_ema_multi_avg_fn(0.9)},
    ),
    "ema-fn": ({"avg_fn": swa_utils.get_ema_avg_fn(0.7)}, {"avg_fn": torch_swa.get_ema_avg_fn(0.7)}),
    "swa-multi": (
        {"multi_avg_fn": swa_utils.get_swa_multi_avg_fn()},
        {"multi_avg_fn": torch_swa.get_swa_multi_avg_fn()},
    ),
}


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("kind", sorted(AVERAGING))
def test_averaged_model_matches_torch_on_the_same_weights(kind: str, use_buffers: bool) -> None:
    ours, theirs = _pair()
    mine_options, their_options = AVERAGING[kind]
    if use_buffers and kind == "swa-multi":
        pytest.skip("PyTorch's swa multi_avg_fn divides integer buffers in place, which it refuses")
    averaged = swa_utils.AveragedModel(ours, use_buffers=use_buffers, **mine_options)
    reference = torch_swa.AveragedModel(theirs, use_buffers=use_buffers, **their_options)
    rng = np.random.default_rng(0)
    for _ in range(7):
        _load(ours, theirs, rng)
        averaged.update_parameters(ours)
        reference.update_parameters(theirs)
        _close(averaged, reference)
    assert int(averaged.n_averaged.item()) == 7


def test_the_first_update_copies_and_the_average_is_the_mean() -> None:
    ours, _ = _pair()
    averaged = swa_utils.AveragedModel(ours)
    seen = []
    rng = np.random.default_rng(1)
    for _ in range(4):
        for p in ours.parameters():
            p.array[...] = rng.normal(size=p.shape)
        seen.append([p.array.copy() for p in ours.parameters()])
        averaged.update_parameters(ours)
    for index, p in enumerate(averaged.module.parameters()):
        np.testing.assert_allclose(p.array, np.mean([s[index] for s in seen], axis=0), rtol=1e-5, atol=1e-6)
    assert averaged.module is not ours and all(
        not np.shares_memory(a.array, b.array)
        for a, b in zip(averaged.module.parameters(), ours.parameters(), strict=True)
    )


def test_update_bn_matches_torch() -> None:
    ours, theirs = _pair()
    _load(ours, theirs, np.random.default_rng(2))
    batches = [np.random.default_rng(i).normal(size=(5, 4)).astype(np.float32) for i in range(4)]
    ours.eval()
    theirs.eval()
    swa_utils.update_bn([(ember.from_numpy(b), None) for b in batches], ours)
    torch_swa.update_bn([(torch.from_numpy(b), None) for b in batches], theirs)
    _close(ours, theirs)
    assert not ours.training  # the mode is restored
    assert ours[1].momentum == 0.1  # and the momentum


def test_update_parameters_refuses_another_model() -> None:
    ours, _ = _pair()
    averaged = swa_utils.AveragedModel(ours)
    with pytest.raises(ValueError, match="the model this AveragedModel was made from"):
        averaged.update_parameters(ember.nn.Linear(2, 2))


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 5])
def test_swalr_matches_torch(strategy: str, anneal_epochs: int) -> None:
    def schedule(lib: Any, swa: Any, params: list[Any]) -> list[list[float]]:
        optimizer = lib.optim.SGD([{"params": params[:1], "lr": 0.5}, {"params": params[1:], "lr": 0.1}])
        scheduler = swa.SWALR(optimizer, swa_lr=[0.05, 0.02], anneal_epochs=anneal_epochs,
                              anneal_strategy=strategy)  # fmt: skip
        rates = []
        for _ in range(10):
            optimizer.step()
            scheduler.step()
            rates.append([group["lr"] for group in optimizer.param_groups])
        return rates

    ours = schedule(
        ember, swa_utils, [ember.nn.Parameter(ember.zeros(2)), ember.nn.Parameter(ember.zeros(2))]
    )
    theirs = schedule(
        torch, torch_swa, [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))]
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_swalr_state_dict_round_trip_and_bad_arguments() -> None:
    optimizer = ember.optim.SGD([ember.nn.Parameter(ember.zeros(2))], lr=0.5)
    scheduler = swa_utils.SWALR(optimizer, swa_lr=0.05, anneal_epochs=3, anneal_strategy="linear")
    state = scheduler.state_dict()
    assert all(not callable(value) for value in state.values())
    scheduler.load_state_dict(state)
    assert scheduler.anneal_func(0.5) == 0.5
    with pytest.raises(ValueError, match="anneal_strategy"):
        swa_utils.SWALR(optimizer, swa_lr=0.05, anneal_strategy="step")
    with pytest.raises(ValueError, match="decay"):
        swa_utils.get_ema_multi_avg_fn(1.5)
