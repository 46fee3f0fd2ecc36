"""Ensembles: the average is the mean of the members' softmax outputs (and its geometric and logit
relatives); snapshots are saved at the end of each warm-restart cycle; the EMA callback keeps the average."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import nn, optim
from ember.data import DataLoader, TensorDataset
from ember.nn.functional import softmax
from ember.optim import swa_utils
from ember.train import Callback, Ensemble, SnapshotEnsemble, Trainer, WeightAveraging, load_checkpoint
from ember.train.ensemble import EnsembleError
from ember.train.trainer import evaluate

from .helpers import mnist_tensors, tiny_mlp


def members(count: int = 3) -> list[nn.Module]:
    ember.manual_seed(0)
    models = [tiny_mlp() for _ in range(count)]
    for model in models:
        model.eval()
    return models


def inputs(count: int = 50) -> ember.Tensor:
    x, _ = mnist_tensors(count)
    return ember.from_numpy(x)


def probabilities(model: nn.Module, x: ember.Tensor) -> np.ndarray:
    return softmax(model(x), dim=1).array.astype(np.float64)


def test_the_ensemble_is_the_mean_of_the_members_softmax_outputs() -> None:
    models, x = members(), inputs()
    expected = np.mean([probabilities(m, x) for m in models], axis=0)
    ensemble = Ensemble(models).eval()
    out = ensemble(x).array
    np.testing.assert_allclose(np.exp(out), expected, rtol=1e-5, atol=1e-7)
    assert (out.argmax(1) == expected.argmax(1)).all()
    np.testing.assert_allclose(softmax(ensemble(x), dim=1).array, expected, rtol=1e-5, atol=1e-7)


def test_geometric_logits_and_weights() -> None:
    models, x = members(), inputs()
    logs = np.log([probabilities(m, x) for m in models])
    geometric = np.exp(logs.mean(0))
    geometric /= geometric.sum(1, keepdims=True)
    got = np.exp(Ensemble(models, combine="geometric")(x).array)
    np.testing.assert_allclose(got, geometric, rtol=1e-5, atol=1e-7)
    scores = np.mean([m(x).array.astype(np.float64) for m in models], axis=0)
    expected = np.exp(scores - scores.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(
        np.exp(Ensemble(models, combine="logits")(x).array), expected, rtol=1e-5, atol=1e-7
    )
    weighted = (2 * probabilities(models[0], x) + probabilities(models[1], x)) / 3
    got = np.exp(Ensemble(models, weights=[2, 1, 0])(x).array)
    np.testing.assert_allclose(got, weighted, rtol=1e-5, atol=1e-7)


def test_evaluate_scores_the_ensemble_by_its_averaged_distribution() -> None:
    models = members()
    x, y = mnist_tensors(64)
    loader = DataLoader(TensorDataset(ember.from_numpy(x), ember.from_numpy(y)), batch_size=32)
    mean = np.mean([probabilities(m, ember.from_numpy(x)) for m in models], axis=0)
    result = evaluate(Ensemble(models), loader)  # the ensemble is in training mode: evaluate sets eval
    assert result.accuracy == pytest.approx(float((mean.argmax(1) == y).mean()))
    assert result.loss == pytest.approx(float(-np.log(mean[np.arange(len(y)), y]).mean()), rel=1e-4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"models": []}, "at least one model"),
        ({"combine": "median"}, "combine must be one of"),
        ({"weights": [1.0]}, "one per model"),
        ({"weights": [0, 0, 0]}, "sum to 0"),
        ({"weights": [1, float("nan"), 1]}, "one per model"),
    ],
)
def test_bad_ensembles_are_refused(options: dict, message: str) -> None:
    arguments = {"models": members(), **options}
    with pytest.raises(EnsembleError, match=message):
        Ensemble(arguments.pop("models"), **arguments)


# ----------------------------------------------------------------------------------------------------------
# Snapshots at cycle ends
class Weights(Callback):
    """Records the model's weights after every step."""

    def __init__(self) -> None:
        self.by_step: dict[int, dict[str, np.ndarray]] = {}

    def on_train_batch_end(self, trainer: Trainer, logs) -> None:
        self.by_step[trainer.step] = {k: v.array.copy() for k, v in trainer.model.state_dict().items()}


def run(
    tmp_path, scheduler_of, interval: str, epochs: int, extra=()
) -> tuple[SnapshotEnsemble, Weights, Trainer]:
    ember.manual_seed(0)
    x, y = mnist_tensors(96)
    loader = DataLoader(TensorDataset(ember.from_numpy(x), ember.from_numpy(y)), batch_size=32)  # 3 steps
    model = tiny_mlp()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    snapshots, weights = SnapshotEnsemble(tmp_path / "snapshots", metadata={"note": "test"}), Weights()
    trainer = Trainer(model, optimizer, scheduler=scheduler_of(optimizer), scheduler_interval=interval,
                      callbacks=[snapshots, weights, *extra])  # fmt: skip
    trainer.fit(loader, epochs=epochs)
    return snapshots, weights, trainer


def saved_steps(snapshots: SnapshotEnsemble, weights: Weights) -> list[int]:
    steps = []
    for path in snapshots.paths:
        state = load_checkpoint(path)["model"]
        (step,) = [
            s for s, w in weights.by_step.items() if all(np.array_equal(w[k], state[k].array) for k in w)
        ]
        steps.append(step)
    return steps


def test_snapshots_are_saved_at_each_warm_restart_per_step(tmp_path) -> None:
    restarts = lambda opt: optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4)  # noqa: E731
    snapshots, weights, _ = run(tmp_path, restarts, "step", epochs=4)  # 12 steps: cycles end at 4, 8, 12
    assert [p.name for p in snapshots.paths] == [f"snapshot-0{i}.safetensors" for i in (1, 2, 3)]
    assert saved_steps(snapshots, weights) == [4, 8, 12]


def test_snapshots_per_epoch_and_the_unfinished_last_cycle(tmp_path) -> None:
    restarts = lambda opt: optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2)  # noqa: E731
    snapshots, weights, _ = run(
        tmp_path, restarts, "epoch", epochs=5
    )  # cycles end after epochs 2, 4; run at 5
    assert saved_steps(snapshots, weights) == [6, 12, 15]


def test_a_warm_up_is_not_a_restart(tmp_path) -> None:
    warmup = lambda opt: optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=6)  # noqa: E731
    snapshots, weights, _ = run(tmp_path, warmup, "step", epochs=3)
    assert saved_steps(snapshots, weights) == [9]  # the run's end only


def test_weight_averaging_keeps_the_ema_of_the_weights_after_each_step(tmp_path) -> None:
    x, y = mnist_tensors(96)
    averaging = None

    def scheduler(opt):
        return None

    ember.manual_seed(0)
    loader = DataLoader(TensorDataset(ember.from_numpy(x), ember.from_numpy(y)), batch_size=32)
    model = tiny_mlp()
    averaging, weights = WeightAveraging(model, swa_utils.get_ema_multi_avg_fn(0.5)), Weights()
    Trainer(model, optim.SGD(model.parameters(), lr=0.1), callbacks=[averaging, weights]).fit(
        loader, epochs=1
    )
    names = [name for name, _ in model.named_parameters()]
    expected = {name: weights.by_step[1][name].astype(np.float64) for name in names}
    for step in (2, 3):
        expected = {name: 0.5 * expected[name] + 0.5 * weights.by_step[step][name] for name in names}
    got = dict(averaging.averaged.module.named_parameters())
    for name in names:
        np.testing.assert_allclose(got[name].array, expected[name], rtol=1e-6, atol=1e-7)
    assert int(averaging.averaged.n_averaged.item()) == 3
    assert not any(np.shares_memory(got[n].array, p.array) for n, p in model.named_parameters())
