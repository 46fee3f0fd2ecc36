"""ToTensor, Normalize, mean subtraction and the data set statistics: torchvision's numbers, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ember.autograd import Tensor
from ember.data import ArrayDataset
from ember.data.transforms import Compose, Normalize, SubtractMean, ToTensor, channel_stats, mean_image

from ..conftest import mnist_arrays


def test_to_tensor_and_normalize_match_torchvision_bit_for_bit() -> None:
    image = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    out = Compose([ToTensor(), Normalize(mean, std)])(image)
    # torchvision: img.permute(2, 0, 1).float().div(255), then sub_(mean[:, None, None]).div_(std[...]).
    reference = torch.from_numpy(image).permute(2, 0, 1).float().div(255)
    reference = reference.sub_(torch.tensor(mean)[:, None, None]).div_(torch.tensor(std)[:, None, None])
    assert isinstance(out, Tensor) and out.shape == (3, 5, 6) and out.dtype == np.float32
    np.testing.assert_array_equal(out.array, reference.numpy())


def test_to_tensor_grey_and_batch_faces_agree() -> None:
    batch = np.random.default_rng(1).integers(0, 256, (4, 7, 7), dtype=np.uint8)
    pipeline = Compose([ToTensor(), Normalize(0.5, 0.2)])
    stacked = np.stack([pipeline(image).array for image in batch])
    np.testing.assert_array_equal(pipeline.apply_batch(batch[:, None]), stacked)
    assert stacked.shape == (4, 1, 7, 7)


def test_normalize_needs_floats_and_matching_channels() -> None:
    with pytest.raises(TypeError, match="ToTensor first"):
        Normalize(0.5, 0.5)(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="3 values for an image with 1 channels"):
        Normalize((0.1, 0.2, 0.3), (1, 1, 1))(Tensor(np.zeros((1, 2, 2), np.float32)))
    with pytest.raises(ValueError, match="division by zero"):
        Normalize(0.0, 0.0)


def test_mnist_statistics_are_the_published_ones() -> None:
    dataset = ArrayDataset(*mnist_arrays(train=True))
    (mean,), (std,) = channel_stats(dataset)
    assert round(mean, 4) == 0.1307 and round(std, 4) == 0.3081
    average = mean_image(dataset)
    assert average.shape == (1, 28, 28) and average.dtype == np.float32
    np.testing.assert_allclose(average[0], dataset.data.mean(axis=0) / 255, rtol=1e-6)


def test_mean_image_subtraction_zero_centres_the_data() -> None:
    data = np.random.default_rng(2).integers(0, 256, (64, 5, 5, 3), dtype=np.uint8)
    average = mean_image(data)
    centred = Compose([ToTensor(), SubtractMean(average)]).apply_batch(data.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(centred.mean(axis=0), 0, atol=1e-6)
    means, stds = channel_stats(centred)  # float N x C x H x W input
    np.testing.assert_allclose(means, 0, atol=1e-6)
    assert all(s > 0.2 for s in stds)
    per_channel = SubtractMean([0.5, 0.5, 0.5])(Tensor(np.full((3, 2, 2), 0.75, np.float32)))
    np.testing.assert_allclose(per_channel.array, 0.25)
