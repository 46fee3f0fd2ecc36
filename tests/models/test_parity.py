"""Every architecture that torchvision has: same parameters, same state-dict keys, same logits.

torchvision's randomly initialized model (its own initialization), with batch-norm running statistics
made non-trivial by a few training-mode passes, is loaded into the Ember model of the same name with a
strict ``load_state_dict`` (every key and shape must match), and both give the same eval-mode logits on
the same input within 1e-4. The Ember model then runs one forward and backward pass in training mode.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember import models
from ember.nn import functional as F

from .oracle import logits, num_parameters, state_arrays, torchvision_model

SHARED = [
    "alexnet",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "googlenet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "wide_resnet50_2",
    "wide_resnet101_2",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "squeezenet1_0",
    "squeezenet1_1",
]
# The smallest inputs that every layer of the network accepts (AlexNet needs 63x63, torchvision says).
INPUT_SIZE = {"alexnet": 64, "squeezenet1_0": 48, "squeezenet1_1": 48, "googlenet": 48}
TOLERANCE = 1e-4


def calibrate(model: torch.nn.Module, size: int) -> None:
    """A few training-mode passes, so that batch norm's running statistics are not just (0, 1)."""
    model.train()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 3, size, size, generator=generator))


@pytest.mark.parametrize("name", SHARED)
def test_torchvision_weights_give_the_same_logits(name, skip_init):
    size = INPUT_SIZE.get(name, 32)
    torch.manual_seed(0)
    reference = torchvision_model(name)
    calibrate(reference, size)
    model = models.create(name)
    assert num_parameters(model) == num_parameters(reference)
    assert list(model.state_dict()) == list(reference.state_dict())  # same keys, same order
    model.load_state_dict(state_arrays(reference))

    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    expected, actual = logits(reference, x), logits(model, x)
    error = float(np.max(np.abs(actual - expected)))
    print(f"{name}: max |logit difference| = {error:.3g} (logits up to {np.max(np.abs(expected)):.3g})")
    assert error <= TOLERANCE

    if name.startswith("vgg") and not name.startswith("vgg16"):
        # The classifier (120M parameters) is the same in every configuration, and its gradient costs
        # seconds of memory traffic: vgg16 and vgg16_bn back-propagate through it, the others stop there.
        model.classifier.requires_grad_(False)
    model.train()
    outputs = model(ember.tensor(x))
    loss = models.AuxiliaryLoss()(outputs, ember.tensor(np.array([1, 2])))
    loss.backward()
    trained = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None and np.isfinite(p.grad.array).all() for p in trained)


def test_vgg16_has_the_lectures_138M_parameters():
    assert num_parameters(torchvision_model("vgg16", meta=True)) == 138_357_544


def test_googlenet_auxiliary_outputs_match_torchvision_in_training_mode(skip_init):
    torch.manual_seed(0)
    reference = torchvision_model("googlenet", num_classes=5, dropout=0.0, dropout_aux=0.0)
    model = models.googlenet(num_classes=5, dropout=0.0, dropout_aux=0.0)
    model.load_state_dict(state_arrays(reference))
    x = np.random.default_rng(0).standard_normal((2, 3, 48, 48)).astype(np.float32)
    expected = reference.train()(torch.from_numpy(x))
    outputs = model.train()(ember.tensor(x))
    assert isinstance(outputs, models.GoogLeNetOutputs)
    for field in ("logits", "aux_logits2", "aux_logits1"):
        np.testing.assert_allclose(
            getattr(outputs, field).detach().numpy(),
            getattr(expected, field).detach().numpy(),
            atol=TOLERANCE,
        )


def test_auxiliary_loss_is_main_plus_03_times_both_auxiliary_losses():
    rng = np.random.default_rng(0)
    logits_, aux2, aux1 = (ember.tensor(rng.standard_normal((4, 3)).astype(np.float32)) for _ in range(3))
    target = ember.tensor(np.array([0, 1, 2, 1]))
    total = models.AuxiliaryLoss()(models.GoogLeNetOutputs(logits_, aux2, aux1), target)
    parts = [F.cross_entropy(t, target).item() for t in (logits_, aux1, aux2)]
    assert total.item() == pytest.approx(parts[0] + 0.3 * (parts[1] + parts[2]), rel=1e-6)
    assert models.AuxiliaryLoss()(logits_, target).item() == pytest.approx(parts[0], rel=1e-6)
