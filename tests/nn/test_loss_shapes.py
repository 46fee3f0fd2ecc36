"""Every loss against PyTorch 2.13 on mismatched shapes.

Where PyTorch raises Ember raises, where PyTorch warns (a target that broadcasts to another shape, e.g.
predictions (4, 1) against targets (4,) giving a 4 x 4 loss) Ember warns, and where both compute they agree.
"""

import warnings

import numpy as np
import pytest
import torch

import ember
from ember.nn import functional as F

TF = torch.nn.functional


def outcome(function, *args, **kwargs):
    """('raise', None), ('warn', value) or ('ok', value), for a warning about sizes or none."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = function(*args, **kwargs)
        except (ValueError, RuntimeError):
            return "raise", None
    sizes = [w for w in caught if "size" in str(w.message) and issubclass(w.category, UserWarning)]
    array = value.detach().numpy() if hasattr(value, "detach") else value.array
    return ("warn" if sizes else "ok"), np.asarray(array)


def same_outcome(name, arrays, options=(), **kwargs):
    """Call ``name`` in both libraries on the same arrays (``options`` are keyword arrays) and compare."""
    torch_kwargs = {**kwargs, **{k: torch.from_numpy(v) for k, v in options}}
    ember_kwargs = {**kwargs, **{k: ember.tensor(v) for k, v in options}}
    theirs = outcome(getattr(TF, name), *map(torch.from_numpy, arrays), **torch_kwargs)
    ours = outcome(getattr(F, name), *map(ember.tensor, arrays), **ember_kwargs)
    assert ours[0] == theirs[0], f"{name}: PyTorch does {theirs[0]}, Ember does {ours[0]}"
    if theirs[1] is not None:
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-6)


def probabilities(shape, seed):
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape).astype(np.float32)


POINTWISE = [
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]
SHAPES = [
    ((4, 1), (4,)),  # the issue's case: a 4 x 4 loss
    ((4,), (4, 1)),
    ((4, 3), (3,)),
    ((4, 3), (1, 3)),
    ((4, 3), ()),
    ((2, 2), (4,)),  # same size, no broadcast: both raise
    ((4, 3), (4, 3)),
    ((1,), (4,)),
]


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("input_shape, target_shape", SHAPES)
@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_losses_treat_mismatched_shapes_as_pytorch(name, input_shape, target_shape, reduction):
    arrays = [probabilities(input_shape, 0), probabilities(target_shape, 1)]
    same_outcome(name, arrays, reduction=reduction)


def test_the_issue_case_warns_for_regression_and_raises_for_bce():
    x, t = ember.tensor(np.zeros((4, 1), np.float32)), ember.tensor(np.ones(4, np.float32))
    for function in (F.mse_loss, F.l1_loss, F.smooth_l1_loss):
        with pytest.warns(UserWarning, match=r"target size \(4,\) .* input size \(4, 1\)"):
            assert function(x, t, reduction="none").shape == (4, 4)
    for function in (F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        with pytest.raises(ValueError, match=r"expected target of the input's shape \(4, 1\), got \(4,\)"):
            function(x, t)


def test_a_python_number_target_is_a_constant_not_a_shape_mistake():
    x = ember.tensor(np.full((2, 3), 0.5, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert F.mse_loss(x, 0.0).item() == pytest.approx(0.25)


WEIGHTS = [(3,), (1, 3), (4, 1), (4, 3), (4,), (2, 4, 3), (2,)]


@pytest.mark.parametrize("shape", WEIGHTS)
@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_bce_weight_must_broadcast_to_the_input(name, shape):
    arrays = [probabilities((4, 3), 0), probabilities((4, 3), 1)]
    same_outcome(name, arrays, [("weight", probabilities(shape, 2))])


@pytest.mark.parametrize("shape", WEIGHTS)
def test_bce_with_logits_pos_weight_must_broadcast_to_the_input(shape):
    arrays = [probabilities((4, 3), 0), probabilities((4, 3), 1)]
    same_outcome("binary_cross_entropy_with_logits", arrays, [("pos_weight", probabilities(shape, 2))])


def class_case(target_shape, classes=3, seed=0, float_target=False):
    rng = np.random.default_rng(seed)
    if float_target:
        return probabilities(target_shape, seed)
    return rng.integers(0, classes, target_shape)


CLASS_CASES = [
    # (input shape, target shape, float target, weight shape or None)
    ((4, 3), (4,), False, None),
    ((4, 3), (4, 1), False, None),
    ((4, 3), (5,), False, None),
    ((4, 3), (4,), True, None),  # float class "indices"
    ((4, 3), (4, 3), True, None),  # probabilities (cross_entropy only)
    ((4, 3), (4, 2), True, None),
    ((4, 3), (4,), False, (2,)),  # one weight too few
    ((4, 3), (4,), False, (5,)),  # too many
    ((4, 3), (4,), False, (3, 1)),
    ((4, 3), (4,), False, (3,)),
    ((4, 3), (4, 3), True, (2,)),
    ((3,), (), False, None),
    ((2, 3, 4), (2, 4), False, None),
    ((2, 3, 4), (2, 3), False, None),
    ((2, 3, 4), (2, 4), False, (4,)),
]


@pytest.mark.parametrize("input_shape, target_shape, float_target, weight", CLASS_CASES)
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "multi_margin_loss"])
def test_class_losses_treat_mismatched_shapes_as_pytorch(
    name, input_shape, target_shape, float_target, weight
):
    if name == "multi_margin_loss" and len(input_shape) > 2:
        pytest.skip("multi_margin_loss takes (N, C) or (C,)")
    arrays = [probabilities(input_shape, 0), class_case(target_shape, float_target=float_target)]
    options = [] if weight is None else [("weight", probabilities(weight, 2))]
    same_outcome(name, arrays, options)


def test_class_loss_messages_name_the_argument():
    x, labels = ember.tensor(probabilities((4, 3), 0)), ember.tensor(np.array([0, 1, 2, 0]))
    one_per_class = r"expected weight \(3,\) \(one per class\)"
    with pytest.raises(ValueError, match=rf"cross_entropy: {one_per_class}, got \(2,\)"):
        F.cross_entropy(x, labels, weight=ember.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=rf"nll_loss: {one_per_class}, got \(5,\)"):
        F.nll_loss(x, labels, weight=ember.ones(5))
    with pytest.raises(ValueError, match=r"multi_margin_loss: expected target class indices \(an integer"):
        F.multi_margin_loss(x, ember.tensor(probabilities((4,), 1)))
    with pytest.raises(ValueError, match=r"^svm_loss: expected target"):
        F.svm_loss(x, ember.tensor([0, 1]))
