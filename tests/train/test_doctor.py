"""The doctor's checks on real MNIST images: each flags its deliberately broken setup (weights x100, labels
shuffled, a learning rate of 10, a first layer frozen by mistake, dead ReLUs, the lecture's vanishing
tanh net) and passes the healthy one; every check leaves the model, optimizer, loader and random state as
it found them."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember import nn, optim
from ember.data import DataLoader, TensorDataset
from ember.nn import regularization
from ember.train.doctor import (
    check_initial_loss,
    check_regularization,
    expected_initial_loss,
    layer_statistics,
    lr_find,
    overfit_small_sample,
    suggest,
)

from .helpers import mnist_tensors, same_state


def loader(count: int = 1000, shuffle_labels: bool = False, scale: float = 1.0, seed: int = 0) -> DataLoader:
    x, y = mnist_tensors(count)
    if shuffle_labels:  # the data-pipeline bug: labels shuffled apart from their images
        y = np.random.default_rng(seed).permutation(y)
    return DataLoader(
        TensorDataset(x * scale, y), batch_size=50, shuffle=True, generator=ember.Generator(seed)
    )


def mlp(hidden: int = 64, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    ember.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), activation(), nn.Linear(hidden, 10))


def sgd(model: nn.Module, lr: float = 0.05) -> optim.SGD:
    return optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def scaled(model: nn.Module, factor: float) -> nn.Module:
    with ember.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                p.mul_(factor)
    return model


def dead(model: nn.Sequential) -> nn.Sequential:
    """Every hidden ReLU dead: a bias so negative that no image makes a unit positive."""
    with ember.no_grad():
        model[1].bias.fill_(-100.0)
    return model


def frozen(model: nn.Sequential) -> nn.Sequential:
    """The first layer frozen by mistake (as a fine-tuning recipe copied into a fresh model would)."""
    model[1].requires_grad_(False)
    return model


# ----------------------------------------------------------------------------------------------------------
# 1. Initial loss
@pytest.mark.parametrize("classes", [2, 10, 100])
def test_expected_initial_loss_is_the_loss_of_equal_scores(classes):
    scores = ember.zeros(7, classes)
    labels = ember.from_numpy(np.arange(7) % classes)
    cases = [
        (nn.CrossEntropyLoss(), math.log(classes)),
        (nn.CrossEntropyLoss(label_smoothing=0.1), math.log(classes)),
        (nn.SVMLoss(), classes - 1),  # the lecture's multiclass SVM loss, margin 1: C - 1
        (nn.MultiMarginLoss(), (classes - 1) / classes),  # PyTorch's divides by C
    ]
    for loss_fn, formula in cases:
        expected, text = expected_initial_loss(loss_fn, classes)
        assert expected == pytest.approx(formula)
        assert float(loss_fn(scores, labels).item()) == pytest.approx(expected, rel=1e-6), text
    log_probabilities = nn.LogSoftmax(dim=1)(scores)
    assert float(nn.NLLLoss()(log_probabilities, labels).item()) == pytest.approx(math.log(classes), rel=1e-6)
    with pytest.raises(ValueError, match="pass expected="):
        expected_initial_loss(nn.MSELoss(), classes)


def test_initial_loss_healthy_and_broken():
    healthy = check_initial_loss(mlp(), loader(), num_classes=10)
    assert healthy.ok and healthy.numbers["ratio"] == pytest.approx(1, abs=0.25)
    assert "ln(C) = ln(10) = 2.303" in healthy.message
    big = check_initial_loss(scaled(mlp(), 100), loader(), num_classes=10)
    assert not big.ok and big.numbers["ratio"] > 2
    assert any("bad init scale" in cause for cause in big.causes)
    raw = check_initial_loss(mlp(), loader(scale=255.0), num_classes=10)  # pixels 0-255 standardized x 255
    assert not raw.ok and any("unnormalized inputs" in cause for cause in raw.causes)
    wide = nn.Sequential(nn.Flatten(), nn.Linear(784, 100))  # 100 outputs for 10 classes
    mismatch = check_initial_loss(wide, loader(), num_classes=10)
    assert not mismatch.ok and any("label/num_classes mismatch" in cause for cause in mismatch.causes)
    narrow = nn.Sequential(nn.Flatten(), nn.Linear(784, 5))  # labels up to 9 for 5 outputs
    beyond = check_initial_loss(narrow, loader(), num_classes=10)
    assert not beyond.ok and beyond.message.startswith("the loss cannot be computed at initialization")
    assert "labels go up to 9 but the model has 5 outputs" in beyond.causes[0]
    svm = check_initial_loss(mlp(), loader(), nn.SVMLoss(), 10)
    assert svm.ok and svm.numbers["expected"] == 9


# ----------------------------------------------------------------------------------------------------------
# 2. Regularization
def test_regularization_raises_the_loss():
    model = mlp()
    penalty = lambda m: regularization.l2(m, 1e-3)  # noqa: E731
    rising = check_regularization(model, loader(), penalty=penalty, weight_decay=5e-4)
    assert rising.ok and rising.numbers["losses"] == sorted(rising.numbers["losses"])
    none = check_regularization(model, loader())
    assert none.ok and "no regularization configured" in none.message
    broken = check_regularization(model, loader(), penalty=lambda m: ember.tensor(0.0))  # reaches no weight
    assert not broken.ok and "loss should increase" in broken.message


# ----------------------------------------------------------------------------------------------------------
# 3. Overfitting a small sample
def test_overfit_healthy():
    model = mlp()
    finding = overfit_small_sample(model, loader(), sgd(model), size=50, max_steps=100, held_out=300)
    assert finding.ok, finding
    assert finding.numbers["final_accuracy"] == 1.0
    assert finding.numbers["held_out_accuracy"] > finding.numbers["control_held_out_accuracy"] + 0.2


def test_overfit_flags_shuffled_labels_by_the_control():
    model = mlp()
    finding = overfit_small_sample(model, loader(shuffle_labels=True), sgd(model), held_out=300)
    assert finding.numbers["fitted_at"] is not None  # it memorizes them all the same
    assert not finding.ok and "labels do not match the images" in finding.causes[0]


def test_overfit_flags_a_learning_rate_of_10_and_dead_relus():
    model = mlp()
    exploding = overfit_small_sample(model, loader(), sgd(model, lr=10.0), held_out=100)
    assert not exploding.ok and "loss explodes" in exploding.message
    assert "learning rate too high (lr 10)" in exploding.message
    model = dead(mlp())
    stuck = overfit_small_sample(model, loader(), sgd(model), max_steps=60, held_out=100)
    assert not stuck.ok and "cannot overfit" in stuck.message


# ----------------------------------------------------------------------------------------------------------
# 4. The range test
def test_suggest_is_robust_to_noise_spikes_and_nans():
    lrs = 1e-6 * 10 ** (np.arange(100) / 15)  # 1e-6 ... 4.6e0, 15 steps a decade
    x = np.log10(lrs)
    clean = 2.3 - 2.0 / (1 + np.exp(-3 * (x + 2.5)))  # steepest at 10^-2.5
    clean[x > -1] += 30 * (x[x > -1] + 1) ** 2  # explodes after 0.1
    noisy = clean + np.random.default_rng(0).normal(0, 0.05, x.size)
    noisy[20] -= 1.5  # a spike downwards at 2e-5: the raw steepest slope would pick it
    noisy[-5:] = np.nan
    suggestion, _, valley, smoothed = suggest(lrs, noisy)
    assert 10**-3 <= suggestion <= 10**-2  # the true steepest point is 10^-2.5
    assert valley[0] < suggestion < valley[1] <= 0.2
    assert lrs[np.argmin(np.gradient(noisy[:95]))] < 1e-4  # np.gradient's steepest slope: the spike
    assert len(smoothed) == 95
    flat = np.full(60, 2.3) + np.random.default_rng(1).normal(0, 0.01, 60)
    assert suggest(lrs[:60], flat)[0] is None


def test_range_test_healthy_and_a_learning_rate_of_10():
    model = mlp()
    healthy = lr_find(model, loader(2000), sgd(model), num_iter=60, verify=10)
    assert healthy.ok and healthy.suggestion is not None, healthy
    low, high = healthy.valley
    assert low < healthy.suggestion < high
    assert len(healthy.trials) == 3 and healthy.verified_lr in [t.lr for t in healthy.trials]
    assert "verified by 10 steps" in healthy.message
    model = mlp()
    too_high = lr_find(model, loader(2000), sgd(model, lr=10.0), num_iter=60)
    assert not too_high.ok and "rate too high" in too_high.causes[0]


# ----------------------------------------------------------------------------------------------------------
# 5. Layer statistics
def test_layer_statistics_healthy():
    model = mlp()
    report = layer_statistics(model, loader(), optimizer=sgd(model), batches=2)
    assert report.ok, report
    relu = next(layer for layer in report.layers if layer.kind == "ReLU")
    assert relu.dead < 0.2 and relu.grad_rms > 0 and len(relu.sample) > 0
    ratios = [p.update_ratio for p in report.parameters if p.is_weight]
    assert all(1e-5 < ratio < 0.5 for ratio in ratios)


@pytest.mark.parametrize(
    ("broken", "lr", "expected"),
    [
        (dead, 0.05, "of ReLUs dead"),
        (frozen, 0.05, "1.weight is frozen"),
        (lambda m: m, 10.0, "learning rate likely too high"),
    ],
    ids=["dead-relus", "first-layer-frozen", "lr-10"],
)
def test_layer_statistics_flags(broken, lr, expected):
    model = broken(mlp())
    params = [p for p in model.parameters() if p.requires_grad]
    report = layer_statistics(model, loader(), optimizer=optim.SGD(params, lr=lr, momentum=0.9), batches=2)
    assert not report.ok and any(expected in cause for cause in report.causes), report


def test_layer_statistics_the_lectures_tanh_net():
    """10 tanh layers initialized with 0.01 * randn: "activations become zero!"; x100: saturated."""
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(784, 100), nn.Tanh()]
    for _ in range(9):
        layers += [nn.Linear(100, 100), nn.Tanh()]
    model = nn.Sequential(*layers, nn.Linear(100, 10))
    with ember.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0, 0.01)
                module.bias.zero_()
    small = layer_statistics(model, loader(), batches=1)
    assert any("activations become zero!" in cause for cause in small.causes)
    big = layer_statistics(scaled(model, 1e4), loader(), batches=1)  # std 100: far in the tails
    assert any("Tanh outputs saturated" in cause for cause in big.causes)


# ----------------------------------------------------------------------------------------------------------
# Leaving everything as it was
def test_every_check_leaves_model_optimizer_loader_and_random_state_as_found():
    data = loader()
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(32, 10))  # fmt: skip
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    for x, y in data:  # one real step first: momentum buffers to keep
        nn.CrossEntropyLoss()(model(x), y).backward()
        optimizer.step()
        break
    weights = {key: value.array.copy() for key, value in model.state_dict().items()}
    momentum = {
        key: value["momentum_buffer"].array.copy() for key, value in optimizer.state_dict()["state"].items()
    }
    rng = ember.get_rng_state()
    loader_state = data.state_dict()
    check_initial_loss(model, data)
    check_regularization(model, data, weight_decay=5e-4)
    overfit_small_sample(model, data, optimizer, max_steps=5, held_out=50)
    lr_find(model, data, optimizer, num_iter=8, verify=2)
    layer_statistics(model, data, optimizer=optimizer, batches=2)
    assert same_state(model.state_dict(), weights)
    state = optimizer.state_dict()
    assert all(np.array_equal(state["state"][k]["momentum_buffer"].array, v) for k, v in momentum.items())
    assert state["param_groups"][0]["lr"] == 0.05 and state["param_groups"][0]["weight_decay"] == 5e-4
    assert model[4].p == 0.2 and model.training
    assert data.state_dict() == loader_state and ember.get_rng_state() == rng
