"""Losses: PyTorch parity for every reduction and option combination, gradcheck, stability, errors."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ember
from ember import nn
from ember.nn import functional as F
from tests.helpers import check_gradients, check_parity, random_array

REDUCTIONS = ["mean", "sum", "none"]
TF = torch.nn.functional


def labels(shape, classes, seed=0, ignored=()):
    values = np.random.default_rng(seed).integers(0, classes, shape)
    for index in ignored:
        values.flat[index] = -100
    return values


def as_pair(array):
    return (None, None) if array is None else (ember.tensor(array), torch.from_numpy(array))


CE_COMBINATIONS = list(itertools.product(REDUCTIONS, [False, True], [False, True], [0.0, 0.25]))


@pytest.mark.parametrize("reduction, weighted, ignore, smoothing", CE_COMBINATIONS)
def test_cross_entropy_class_indices_every_combination(reduction, weighted, ignore, smoothing):
    logits = random_array((10, 6), seed=1) * 2
    target = labels(10, 6, seed=2, ignored=(1, 7) if ignore else ())
    ours_w, theirs_w = as_pair(random_array((6,), seed=3) ** 2 + 0.1 if weighted else None)
    options = {"reduction": reduction, "label_smoothing": smoothing}
    check_parity(
        lambda x, y: nn.CrossEntropyLoss(weight=ours_w, **options)(x, y),
        lambda x, y: torch.nn.CrossEntropyLoss(weight=theirs_w, **options)(x, y),
        [logits, target],
    )
    check_gradients(
        lambda x: F.cross_entropy(x, target[:4], ours_w, reduction=reduction, label_smoothing=smoothing),
        [logits[:4]],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probability_targets(reduction, smoothing, weighted):
    logits = random_array((5, 4, 3), seed=4)  # (N, C, d1): the class dimension is 1
    probabilities = np.random.default_rng(5).dirichlet(np.ones(4), size=(5, 3)).transpose(0, 2, 1)
    probabilities = np.ascontiguousarray(probabilities, dtype=np.float32)
    ours_w, theirs_w = as_pair(random_array((4,), seed=6) ** 2 if weighted else None)
    check_parity(
        lambda x, t: F.cross_entropy(x, t, ours_w, reduction=reduction, label_smoothing=smoothing),
        lambda x, t: TF.cross_entropy(x, t, theirs_w, reduction=reduction, label_smoothing=smoothing),
        [logits, probabilities],  # gradients with respect to the soft targets are compared too
    )
    check_gradients(
        lambda x, t: F.cross_entropy(x, t, ours_w, reduction=reduction, label_smoothing=smoothing),
        [logits[:2], probabilities[:2]],
    )


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 5), extra=st.lists(st.integers(1, 3), max_size=2))
def test_cross_entropy_spatial_shapes(n, c, extra):
    logits = random_array((n, c, *extra), seed=n + c)
    target = labels((n, *extra), c, seed=n)
    for reduction in REDUCTIONS:
        check_parity(
            lambda x, y, r=reduction: F.cross_entropy(x, y, reduction=r),
            lambda x, y, r=reduction: TF.cross_entropy(x, y, reduction=r),
            [logits, target],
        )


def test_cross_entropy_unbatched_and_stable_for_huge_logits():
    check_parity(F.cross_entropy, TF.cross_entropy, [random_array((5,)), np.array(3)])
    huge = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4], [5e3, 5e3 + 1, 0]], np.float32)
    check_parity(F.cross_entropy, TF.cross_entropy, [huge, np.array([1, 0, 2])])
    loss = F.cross_entropy(ember.tensor(huge), ember.tensor([0, 1, 1]), reduction="none")
    np.testing.assert_allclose(loss.array, [0, np.log(2), np.log1p(np.exp(-1))], atol=1e-4)
    big64 = (huge * 1e30).astype(np.float64)
    assert np.all(np.isfinite(F.cross_entropy(ember.tensor(big64), ember.tensor([0, 1, 2])).array))


def test_cross_entropy_all_ignored_is_nan_like_torch():
    target = np.array([-100, -100])
    ours = F.cross_entropy(ember.tensor(random_array((2, 3))), ember.tensor(target))
    assert np.isnan(ours.item()) and np.isnan(
        TF.cross_entropy(torch.randn(2, 3), torch.from_numpy(target)).item()
    )


def test_cross_entropy_errors():
    expected = r"cross_entropy: expected target class indices of shape \(4,\) for input \(4, 3\), got \(4, 1"
    with pytest.raises(ValueError, match=expected):
        F.cross_entropy(ember.zeros(4, 3), ember.tensor([[0], [1], [2], [0]]))
    with pytest.raises(IndexError, match="target 3 is out of bounds for 3 classes"):
        F.cross_entropy(ember.zeros(2, 3), ember.tensor([0, 3]))
    with pytest.raises(ValueError, match="reduction must be"):
        F.cross_entropy(ember.zeros(2, 3), ember.tensor([0, 1]), reduction="avg")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_parity_and_gradcheck(reduction, weighted):
    x = random_array((6, 4, 2), seed=7)
    target = labels((6, 2), 4, seed=8, ignored=(1,))
    ours_w, theirs_w = as_pair(random_array((4,), seed=9) ** 2 if weighted else None)
    check_parity(
        lambda x, y: nn.NLLLoss(ours_w, reduction=reduction)(x, y),
        lambda x, y: torch.nn.NLLLoss(theirs_w, reduction=reduction)(x, y),
        [x, target],
    )
    check_gradients(lambda x: F.nll_loss(x, target[:2], ours_w, reduction=reduction), [x[:2]])


def test_log_softmax_then_nll_equals_cross_entropy():
    x = ember.tensor(random_array((5, 7)))
    y = ember.tensor(labels(5, 7))
    np.testing.assert_allclose(
        F.nll_loss(F.log_softmax(x, 1), y).item(), F.cross_entropy(x, y).item(), rtol=1e-6
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "p, margin, weighted", [(1, 1.0, False), (2, 0.5, False), (1, 2.0, True), (2, 1.0, True)]
)
def test_multi_margin_loss_parity_and_gradcheck(reduction, p, margin, weighted):
    x = random_array((7, 5), seed=10)
    target = labels(7, 5, seed=11)
    ours_w, theirs_w = as_pair(random_array((5,), seed=12) ** 2 if weighted else None)
    check_parity(
        lambda x, y: nn.MultiMarginLoss(p, margin, ours_w, reduction=reduction)(x, y),
        lambda x, y: torch.nn.MultiMarginLoss(p, margin, theirs_w, reduction=reduction)(x, y),
        [x, target],
    )
    check_gradients(lambda x: F.multi_margin_loss(x, target, p, margin, ours_w, reduction), [x])
    check_parity(
        lambda x, y: F.multi_margin_loss(x, y, p, margin), lambda x, y: TF.multi_margin_loss(x, y, p, margin),
        [x[0], np.array(target[0])],
    )  # fmt: skip


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_svm_loss_is_multi_margin_times_classes(reduction):
    x = random_array((6, 4), seed=13)
    target = labels(6, 4, seed=14)
    check_parity(
        lambda x, y: nn.SVMLoss(margin=1.5, reduction=reduction)(x, y),
        lambda x, y: TF.multi_margin_loss(x, y, margin=1.5, reduction=reduction) * 4,
        [x, target],
    )
    check_gradients(lambda x: F.svm_loss(x, target, reduction=reduction), [x])
    with pytest.raises(ValueError, match="svm_loss: expected input scores"):
        F.svm_loss(ember.zeros(2, 3, 4), ember.tensor([0, 1]))


POINTWISE = [
    ("mse_loss", {}, nn.MSELoss, torch.nn.MSELoss),
    ("l1_loss", {}, nn.L1Loss, torch.nn.L1Loss),
    ("smooth_l1_loss", {"beta": 1.0}, nn.SmoothL1Loss, torch.nn.SmoothL1Loss),
    ("smooth_l1_loss", {"beta": 0.3}, nn.SmoothL1Loss, torch.nn.SmoothL1Loss),
    ("smooth_l1_loss", {"beta": 0.0}, nn.SmoothL1Loss, torch.nn.SmoothL1Loss),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, options, ours, theirs", POINTWISE)
def test_regression_losses(name, options, ours, theirs, reduction):
    x, t = random_array((4, 5), seed=15), random_array((4, 5), seed=16)
    check_parity(ours(reduction=reduction, **options), theirs(reduction=reduction, **options), [x, t])
    fn = getattr(F, name)
    check_gradients(lambda x, t: fn(x, t, reduction=reduction, **options), [x[:2], t[:2] + 0.05])
    # broadcasting target, as PyTorch (which warns)
    with pytest.warns(UserWarning):
        check_parity(
            lambda x, t: fn(x, t, **options), lambda x, t: getattr(TF, name)(x, t, **options), [x, t[:1]]
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction, weighted):
    rng = np.random.default_rng(17)
    x = rng.uniform(0.02, 0.98, (4, 3)).astype(np.float32)
    t = rng.uniform(0, 1, (4, 3)).astype(np.float32)
    ours_w, theirs_w = as_pair(random_array((3,), seed=18) ** 2 if weighted else None)
    check_parity(
        lambda x, t: nn.BCELoss(ours_w, reduction=reduction)(x, t),
        lambda x, t: torch.nn.BCELoss(theirs_w, reduction=reduction)(x, t),
        [x, t],
    )
    check_gradients(lambda x, t: F.binary_cross_entropy(x, t, ours_w, reduction), [x, t])


def test_binary_cross_entropy_clamps_log_at_minus_100():
    x, t = np.array([0.0, 1.0, 1.0], np.float32), np.array([1.0, 0.0, 1.0], np.float32)
    check_parity(
        lambda x, t: F.binary_cross_entropy(x, t, reduction="none"),
        lambda x, t: TF.binary_cross_entropy(x, t, reduction="none"),
        [x, t],
        backward=False,
    )
    np.testing.assert_array_equal(
        F.binary_cross_entropy(ember.tensor(x), ember.tensor(t), reduction="none").array, [100, 100, 0]
    )
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(ember.tensor([1.5]), ember.tensor([1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted, positive", [(False, False), (True, False), (False, True), (True, True)])
def test_binary_cross_entropy_with_logits(reduction, weighted, positive):
    rng = np.random.default_rng(19)
    x = (random_array((5, 3), seed=20) * 4).astype(np.float32)
    t = rng.uniform(0, 1, (5, 3)).astype(np.float32)
    ours_w, theirs_w = as_pair(random_array((5, 1), seed=21) ** 2 if weighted else None)
    ours_p, theirs_p = as_pair(np.array([0.5, 2.0, 3.0], np.float32) if positive else None)
    check_parity(
        lambda x, t: nn.BCEWithLogitsLoss(ours_w, reduction=reduction, pos_weight=ours_p)(x, t),
        lambda x, t: torch.nn.BCEWithLogitsLoss(theirs_w, reduction=reduction, pos_weight=theirs_p)(x, t),
        [x, t],
    )
    check_gradients(lambda x, t: F.binary_cross_entropy_with_logits(x, t, ours_w, reduction, ours_p), [x, t])


def test_binary_cross_entropy_with_logits_is_stable():
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], np.float32)
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0], np.float32)
    check_parity(
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
        lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction="none"),
        [x, t],
    )


def test_loss_modules_register_weights_as_buffers():
    weight = ember.tensor([1.0, 2.0])
    assert list(nn.CrossEntropyLoss(weight).state_dict()) == list(
        torch.nn.CrossEntropyLoss(torch.ones(2)).state_dict()
    )
    assert list(nn.BCEWithLogitsLoss(pos_weight=weight).state_dict()) == ["pos_weight"]
    with pytest.raises(ValueError, match="reduction must be"):
        nn.MSELoss(reduction="average")


def test_losses_keep_float32():
    x = ember.tensor(random_array((4, 3)), requires_grad=True)
    y = ember.tensor([0, 1, 2, 0])
    losses = [F.cross_entropy(x, y), F.mse_loss(x, ember.zeros(4, 3)), F.svm_loss(x, y)]
    for loss in [*losses, F.binary_cross_entropy_with_logits(x, ember.ones(4, 3))]:
        loss.backward()
        assert loss.dtype == x.grad.dtype == np.float32
