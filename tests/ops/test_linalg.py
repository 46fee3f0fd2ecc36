"""matmul with batch broadcasting and vector cases, and the fused linear map."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import ember
from tests.helpers import check_gradients, check_parity, random_array

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 1, 2, 3), (4, 3, 2)),
    ((4,), (2, 4, 3)),
    ((2, 2, 3), (3,)),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES)
def test_matmul(a_shape, b_shape):
    a, b = random_array(a_shape, seed=1), random_array(b_shape, seed=2)
    check_parity(lambda x, y: x @ y, lambda x, y: x @ y, [a, b])
    check_gradients(lambda x, y: ember.matmul(x, y), [a, b])


@given(
    batch=st.lists(st.integers(1, 3), max_size=2),
    m=st.integers(1, 4),
    k=st.integers(1, 4),
    n=st.integers(1, 4),
    seed=st.integers(0, 999),
)
def test_matmul_batched_shapes(batch, m, k, n, seed):
    a, b = random_array((*batch, m, k), seed=seed), random_array((k, n), seed=seed + 1)
    check_parity(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear(x_shape, with_bias):
    x, w, b = random_array(x_shape, seed=1), random_array((5, 4), seed=2), random_array((5,), seed=3)
    if with_bias:
        check_parity(ember.linear, torch.nn.functional.linear, [x, w, b])
        check_gradients(ember.linear, [x, w, b])
    else:
        check_parity(ember.linear, torch.nn.functional.linear, [x, w])
        check_gradients(ember.linear, [x, w])


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(
        ValueError,
        match=r"matmul: cannot multiply shapes \(2, 3\) and \(4, 5\): the inner dimensions 3 and 4 differ",
    ):
        ember.ones(2, 3) @ ember.ones(4, 5)
    with pytest.raises(ValueError, match="linear: input of shape"):
        ember.linear(ember.ones(2, 3), ember.ones(5, 4))


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("diagonal", [-1, 0, 2])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 5, 3)])
def test_triangles_match_pytorch(name, diagonal, shape):
    x = random_array(shape, seed=diagonal + 1)
    check_gradients(lambda t: getattr(ember, name)(t, diagonal), [x])
    check_parity(lambda t: getattr(t, name)(diagonal), lambda t: getattr(t, name)(diagonal), [x])


def test_triangles_of_integers_and_errors():
    ints = ember.arange(9).reshape(3, 3)
    assert ints.tril().dtype == ember.int64
    assert ints.triu(1).tolist() == torch.arange(9).reshape(3, 3).triu(1).tolist()
    assert ember.ones(2, 2, dtype=ember.bool).tril().tolist() == [[True, False], [True, True]]
    with pytest.raises(RuntimeError, match="tril: the input must have at least 2 dimensions"):
        ember.ones(3).tril()


@pytest.mark.parametrize("diagonal", [-3, -1, 0, 2, 5])
@pytest.mark.parametrize("shape", [(4,), (3, 5), (5, 3)])
def test_diag_matches_pytorch(diagonal, shape):
    x = random_array(shape, seed=abs(diagonal))
    check_gradients(lambda t: ember.diag(t, diagonal), [x])
    check_parity(lambda t: t.diag(diagonal), lambda t: t.diag(diagonal), [x])


def test_diag_refuses_other_shapes():
    with pytest.raises(
        RuntimeError, match=r"diag: the input must be a vector or a matrix, got shape \(2, 2, 2\)"
    ):
        ember.ones(2, 2, 2).diag()
