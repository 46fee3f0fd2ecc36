"""F.one_hot: PyTorch's values, int64 type and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F


@pytest.mark.parametrize("num_classes", [-1, 4, 6])
def test_one_hot_matches_pytorch(num_classes):
    labels = np.array([[0, 3], [2, 2], [1, 0]], np.int64)
    expected = torch.nn.functional.one_hot(torch.from_numpy(labels), num_classes)
    result = F.one_hot(ember.tensor(labels), num_classes)
    assert result.dtype == ember.int64
    np.testing.assert_array_equal(result.array, expected.numpy())


def test_one_hot_of_nothing_and_pytorchs_errors():
    assert F.one_hot(ember.tensor([], dtype=ember.int64), 3).shape == (0, 3)
    with pytest.raises(RuntimeError, match="must be an int64 tensor of class indices, not float32"):
        F.one_hot(ember.tensor([1.0]))
    with pytest.raises(RuntimeError, match="class values must be non-negative, found -1"):
        F.one_hot(ember.tensor([-1, 0]))
    with pytest.raises(RuntimeError, match="must be smaller than num_classes=2, found 3"):
        F.one_hot(ember.tensor([3]), 2)
    with pytest.raises(RuntimeError, match="cannot infer the number of classes from an empty tensor"):
        F.one_hot(ember.tensor([], dtype=ember.int64))
