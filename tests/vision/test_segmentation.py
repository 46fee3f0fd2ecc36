"""Semantic segmentation: the metrics against scikit-learn, the two networks' shapes and registry entries,
their training steps against PyTorch twins, and a smoke run that must beat the trivial answers by a margin."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sklearn.metrics import jaccard_score
from torch import nn as tnn

import ember
import ember.models
import ember.optim
from ember.nn import functional as F
from ember.vision.datasets import Scenes
from ember.vision.segmentation import FCN, SegmentationMetrics, SegNet
from tests.vision.conftest import MNIST_DIR


def test_mean_iou_matches_scikit_learn_over_batches():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, (6, 8, 8))
    predicted = np.where(rng.random((6, 8, 8)) < 0.6, truth, rng.integers(0, 5, (6, 8, 8)))
    metrics = SegmentationMetrics(5)
    for start in (0, 2, 5):  # uneven batches: the matrix sums pixels, not per-batch means
        stop = {0: 2, 2: 5, 5: 6}[start]
        metrics.update(predicted[start:stop], truth[start:stop])
    result = metrics.compute()
    flat_truth, flat_predicted = truth.reshape(-1), predicted.reshape(-1)
    expected = jaccard_score(flat_truth, flat_predicted, average=None, labels=range(5))
    np.testing.assert_allclose(result.iou, expected, rtol=1e-12)
    assert result.mean_iou == pytest.approx(jaccard_score(flat_truth, flat_predicted, average="macro"))
    assert result.mean_iou_objects == pytest.approx(expected[1:].mean())
    assert result.pixel_accuracy == pytest.approx((flat_truth == flat_predicted).mean())


def test_metrics_take_scores_and_leave_out_classes_that_never_occur():
    scores = np.zeros((1, 4, 2, 2), dtype=np.float32)
    scores[0, 1] = 1.0  # predicts class 1 everywhere
    metrics = SegmentationMetrics(4)
    metrics.update(scores, np.array([[[0, 1], [1, 1]]]), loss=0.5)
    result = metrics.compute()
    assert result.iou[:2].tolist() == [0.0, 0.75] and np.isnan(result.iou[2:]).all()
    assert result.mean_iou == pytest.approx(0.375) and result.mean_iou_objects == pytest.approx(0.75)
    assert result.foreground_iou == pytest.approx(0.75) and result.loss == 0.5
    with pytest.raises(ValueError, match="predictions of shape"):
        metrics.update(np.zeros((1, 3, 3)), np.zeros((1, 2, 2)))


def test_metrics_keep_every_predicted_and_true_map_when_asked():
    rng = np.random.default_rng(1)
    scores, truth = rng.normal(size=(5, 3, 4, 4)), rng.integers(0, 3, (5, 4, 4))
    metrics = SegmentationMetrics(3, keep_predictions=True)
    metrics.update(scores[:2], truth[:2])
    metrics.update(scores[2:], truth[2:])
    result = metrics.compute()
    assert result.predictions is not None and result.targets is not None
    assert result.predictions.tolist() == scores.argmax(axis=1).tolist()
    assert result.targets.tolist() == truth.tolist() and result.predictions.dtype == np.uint8
    assert SegmentationMetrics(3).compute().predictions is None  # not kept unless asked


@pytest.mark.parametrize(("name", "cls"), [("fcn_unet", FCN), ("segnet", SegNet)])
def test_the_networks_are_in_the_zoo_and_keep_the_size(name, cls):
    model = ember.models.create(name, num_classes=11, in_channels=1)
    assert isinstance(model, cls) and name in ember.models.list()
    assert model(ember.randn(2, 1, 64, 64)).shape == (2, 11, 64, 64)
    assert cls(num_classes=3, widths=(4, 8))(ember.randn(1, 1, 16, 24)).shape == (1, 3, 16, 24)


def test_segnet_unpools_to_the_positions_of_the_maxima():
    model = SegNet(widths=(2, 2))
    model.eval()
    x = ember.randn(1, 1, 8, 8, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None and x.grad.shape == (1, 1, 8, 8)


def torch_double_conv(in_channels: int, out_channels: int) -> tnn.Sequential:
    return tnn.Sequential(
        tnn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        tnn.BatchNorm2d(out_channels),
        tnn.ReLU(),
        tnn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        tnn.BatchNorm2d(out_channels),
        tnn.ReLU(),
    )


class TorchFCN(tnn.Module):
    """PyTorch twin of ``FCN``: the same modules under the same names."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        sizes = [1, *widths]
        self.encoder = tnn.ModuleList(torch_double_conv(a, b) for a, b in itertools.pairwise(sizes))
        self.pool = tnn.MaxPool2d(2)
        pairs = list(zip(widths[1:], widths, strict=False))[::-1]
        self.upsample = tnn.ModuleList(tnn.ConvTranspose2d(d, s, 2, stride=2) for d, s in pairs)
        self.decoder = tnn.ModuleList(torch_double_conv(2 * s, s) for _, s in pairs)
        self.classifier = tnn.Conv2d(widths[0], 11, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for index, stage in enumerate(self.encoder):
            x = stage(x)
            if index < len(self.encoder) - 1:
                skips.append(x)
                x = self.pool(x)
        for upsample, stage, skip in zip(self.upsample, self.decoder, reversed(skips), strict=True):
            x = stage(torch.cat([skip, upsample(x)], dim=1))
        return self.classifier(x)


class TorchSegNet(tnn.Module):
    """PyTorch twin of ``SegNet``."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        sizes = [1, *widths]
        self.encoder = tnn.ModuleList(torch_double_conv(a, b) for a, b in itertools.pairwise(sizes))
        self.pool = tnn.MaxPool2d(2, return_indices=True)
        self.unpool = tnn.MaxUnpool2d(2)
        pairs = list(zip(widths[1:], widths, strict=False))[::-1]
        self.decoder = tnn.ModuleList(torch_double_conv(d, s) for d, s in pairs)
        self.refine = torch_double_conv(widths[0], widths[0])
        self.classifier = tnn.Conv2d(widths[0], 11, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        remembered = []
        for index, stage in enumerate(self.encoder):
            x = stage(x)
            if index < len(self.encoder) - 1:
                x, indices = self.pool(x)
                remembered.append(indices)
        for stage, indices in zip(self.decoder, reversed(remembered), strict=True):
            x = self.unpool(stage(x), indices)
        return self.classifier(self.refine(x))


@pytest.mark.parametrize(("cls", "twin"), [(FCN, TorchFCN), (SegNet, TorchSegNet)])
def test_training_steps_and_evaluation_match_a_pytorch_twin(cls, twin):
    """Adam steps in training mode (per-pixel cross-entropy, batch statistics, running estimates), then the
    evaluation mode, in float64 from the same weights: the whole training path of the segmentation runs."""
    widths = (4, 8, 16)
    ember.manual_seed(0)
    model = cls(widths=widths).double()
    reference = twin(widths).double()
    reference.load_state_dict({k: torch.from_numpy(np.array(v.array)) for k, v in model.state_dict().items()})
    optimizer = ember.optim.Adam(model.parameters(), lr=1e-2)
    reference_optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for step in range(4):
        x, y = rng.random((3, 1, 16, 24)), rng.integers(0, 11, (3, 16, 24))
        loss = F.cross_entropy(model(ember.tensor(x)), ember.tensor(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        reference_scores = reference(torch.from_numpy(x))
        reference_loss = torch.nn.functional.cross_entropy(reference_scores, torch.from_numpy(y))
        reference_optimizer.zero_grad()
        reference_loss.backward()
        reference_optimizer.step()
        assert loss.item() == pytest.approx(reference_loss.item(), rel=1e-9), f"step {step}"
    expected = reference.state_dict()
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value.array, expected[name].numpy(), rtol=1e-7, atol=1e-9, err_msg=name)
    model.eval()
    reference.eval()
    x = rng.random((2, 1, 16, 24))
    with torch.no_grad():
        np.testing.assert_allclose(
            model(ember.tensor(x)).array, reference(torch.from_numpy(x)).numpy(), rtol=1e-7, atol=1e-9
        )


def test_a_smoke_run_beats_the_best_constant_guess():
    """32 steps of a small FCN on 256 scenes. The trivial baseline is the best constant prediction, the
    class frequencies of the pixels (its cross-entropy is their entropy; its argmax is all background).
    So soon after the start the network knows where the digits are but not yet which they are (the plateau
    of docs/vision.md), so it is asked for a lower loss and for "some object here" (p(background) < 0.5)
    where the digits are, not for the classes."""
    train = Scenes(MNIST_DIR, size=256, target_type="semantic")
    test = Scenes(MNIST_DIR, train=False, size=128, target_type="semantic")
    images = train.images
    maps = np.stack([scene.semantic for scene in train.scenes]).astype(np.int64)
    ember.manual_seed(0)
    model = FCN(widths=(8, 16, 32))
    optimizer = ember.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(2):
        for index in np.array_split(rng.permutation(len(images)), len(images) // 16):
            loss = F.cross_entropy(model(ember.tensor(images[index])), ember.tensor(maps[index]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    truth = np.stack([scene.semantic for scene in test.scenes]).astype(np.int64)
    with ember.no_grad():
        scores = model(ember.tensor(test.images))
        test_loss = F.cross_entropy(scores, ember.tensor(truth)).item()
    frequencies = np.bincount(maps.reshape(-1), minlength=11) / maps.size
    constant_loss = -np.log(frequencies[truth]).mean()
    assert test_loss < 0.8 * constant_loss  # measured: 0.20 against 0.31
    logits = scores.array - scores.array.max(axis=1, keepdims=True)
    background = np.exp(logits[:, 0]) / np.exp(logits).sum(axis=1)
    found, objects = background < 0.5, truth > 0
    assert (found & objects).sum() / (found | objects).sum() > 0.25  # measured: 0.40; all background: 0
