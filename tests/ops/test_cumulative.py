"""cumsum: gradcheck and PyTorch parity (values, types, gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import ember
from tests.helpers import check_gradients, check_parity, random_array


@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=5), data=st.data())
def test_cumsum_matches_pytorch(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = random_array(shape, seed=data.draw(st.integers(0, 2**16)))
    check_parity(lambda t: t.cumsum(dim), lambda t: t.cumsum(dim), [x])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_passes_a_numerical_gradient_check(dim):
    check_gradients(lambda t: ember.cumsum(t, dim), [random_array((3, 4, 2), seed=dim % 3)])


def test_cumsum_types_and_a_scalar_as_pytorch():
    for values, dtype in (([1, 2], ember.int32), ([True, True], ember.bool)):
        result = ember.tensor(values, dtype=dtype).cumsum(0)
        expected = torch.cumsum(torch.tensor(values), 0)
        assert result.dtype == ember.int64 and result.tolist() == expected.tolist()
    x = ember.tensor([0.5, 0.25], requires_grad=True)
    assert x.cumsum(0, dtype=ember.float64).dtype == ember.float64
    check_parity(lambda t: t.cumsum(-1), lambda t: t.cumsum(-1), [np.float32(2.5)])
    with pytest.raises(IndexError, match="cumsum: dimension 2 is out of range"):
        ember.ones(2, 2).cumsum(2)


def test_cumsum_has_gradients_of_gradients():
    x = ember.tensor(random_array((2, 3), dtype=np.float64), requires_grad=True)
    assert ember.gradgradcheck(lambda t: (t * t).cumsum(1), [x])
