"""Tensor basics: creation, types, conversions, printing, random generation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import ember


def test_python_data_gets_pytorch_types():
    assert ember.tensor([1.0, 2.0]).dtype == np.float32
    assert ember.tensor([1, 2]).dtype == np.int64
    assert ember.tensor([True]).dtype == np.bool_
    assert ember.tensor(np.zeros(2)).dtype == np.float64  # NumPy data keeps its type, as torch.tensor
    assert ember.tensor([1, 2], dtype=ember.float32).dtype == np.float32
    with pytest.raises(TypeError, match="cannot make a tensor"):
        ember.tensor(["a"])


@pytest.mark.parametrize(
    ("make", "torch_make"),
    [
        (lambda m: m.zeros(2, 3), lambda: torch.zeros(2, 3)),
        (lambda m: m.ones((2, 3)), lambda: torch.ones((2, 3))),
        (lambda m: m.full((2,), 1.5), lambda: torch.full((2,), 1.5)),
        (lambda m: m.arange(1, 7, 2), lambda: torch.arange(1, 7, 2)),
        (lambda m: m.linspace(0, 1, 5), lambda: torch.linspace(0, 1, 5)),
        (lambda m: m.eye(3), lambda: torch.eye(3)),
        (lambda m: m.eye(2, 3), lambda: torch.eye(2, 3)),
        (lambda m: m.zeros_like(m.ones(2, dtype=m.float64)), lambda: torch.zeros(2, dtype=torch.float64)),
        (lambda m: m.ones_like(m.ones(2)), lambda: torch.ones(2)),
    ],
)
def test_creation_matches_pytorch(make, torch_make):
    result, expected = make(ember), torch_make()
    assert result.dtype == expected.numpy().dtype
    np.testing.assert_allclose(result.array, expected.numpy())


def test_random_creation_is_seeded_and_typed():
    ember.manual_seed(7)
    a = ember.randn(3, 4)
    ember.manual_seed(7)
    b = ember.randn(3, 4)
    np.testing.assert_array_equal(a.array, b.array)
    assert a.dtype == np.float32 and ember.rand(2).dtype == np.float32
    x = ember.rand(10_000)
    assert x.min().item() >= 0.0 and x.max().item() < 1.0
    assert abs(ember.randn(10_000).mean().item()) < 0.05
    ints = ember.randint(0, 5, (1000,))
    assert ints.dtype == np.int64 and set(np.unique(ints.array)) == {0, 1, 2, 3, 4}
    assert ember.randint(3, (4,)).shape == (4,)
    assert ember.randn_like(a).shape == a.shape
    assert sorted(ember.randperm(5).tolist()) == [0, 1, 2, 3, 4]


def test_generators_are_independent_and_restorable():
    g = ember.Generator(1)
    state = g.get_state()
    first = ember.randn(3, generator=g)
    g.set_state(state)
    np.testing.assert_array_equal(ember.randn(3, generator=g).array, first.array)
    default_state = ember.get_rng_state()
    x = ember.rand(2)
    ember.set_rng_state(default_state)
    np.testing.assert_array_equal(ember.rand(2).array, x.array)


def test_attributes_and_conversions():
    x = ember.ones(2, 3, requires_grad=True)
    assert x.shape == (2, 3) and x.size() == (2, 3) and x.size(1) == 3 and x.ndim == 2 and x.dim() == 2
    assert x.numel() == 6 and len(x) == 2 and x.is_leaf and x.is_floating_point()
    assert ember.tensor(2.5).item() == 2.5 and float(ember.tensor([2.5])) == 2.5 and int(ember.tensor(3)) == 3
    assert ember.tensor([[1, 2]]).tolist() == [[1, 2]]
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert isinstance(x.detach().numpy(), np.ndarray)
    np.testing.assert_array_equal(np.asarray(x), np.ones((2, 3)))
    assert (
        x.long().dtype == np.int64
        and x.double().dtype == np.float64
        and x.to(ember.float16).dtype == np.float16
    )
    assert x.to("cpu") is x
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    with pytest.raises(RuntimeError, match="6 elements"):
        x.item()


def test_iteration_and_hashing():
    x = ember.arange(6).reshape(2, 3)
    assert [row.tolist() for row in x] == [[0, 1, 2], [3, 4, 5]]
    assert len({x, x}) == 1  # hashable by identity although == is elementwise


def test_repr_is_like_pytorch():
    assert repr(ember.tensor([1.0, 2.5])) == "tensor([1. , 2.5])"
    assert repr(ember.tensor([1, 2])) == "tensor([1, 2])"
    assert "requires_grad=True" in repr(ember.ones(1, requires_grad=True))
    assert "grad_fn=<MulBackward0>" in repr(ember.ones(1, requires_grad=True) * 2)
    assert "dtype=ember.float64" in repr(ember.ones(1, dtype=ember.float64))


def test_deepcopy_keeps_values_and_flags():
    x = ember.randn(3, requires_grad=True)
    y = copy.deepcopy(x)
    assert y.array is not x.array and y.requires_grad
    np.testing.assert_array_equal(y.array, x.array)


def test_numpy_arrays_defer_to_tensor_operators():
    result = np.ones(3, dtype=np.float32) + ember.ones(3, requires_grad=True)
    assert isinstance(result, ember.Tensor) and result.requires_grad


def test_default_dtype_can_be_changed():
    try:
        ember.set_default_dtype(ember.float64)
        assert ember.tensor([1.0]).dtype == np.float64 and ember.zeros(1).dtype == np.float64
    finally:
        ember.set_default_dtype(ember.float32)
    with pytest.raises(TypeError, match="floating"):
        ember.set_default_dtype(ember.int64)


@pytest.mark.parametrize("source", [np.array([1.5, 2.0], np.float32), np.array([1, 2], np.int64)])
def test_new_factories_take_the_tensors_type_as_pytorch(source):
    x, t = ember.tensor(source), torch.from_numpy(source)
    cases = [
        (lambda a: a.new_zeros(2, 3), lambda a: a.new_zeros(2, 3)),
        (lambda a: a.new_ones((3,)), lambda a: a.new_ones((3,))),
        (lambda a: a.new_full((2,), 7), lambda a: a.new_full((2,), 7)),
        (lambda a: a.new_tensor([[1, 2]]), lambda a: a.new_tensor([[1, 2]])),
        (lambda a: a.new_zeros(2, dtype=ember.float64), lambda a: a.new_zeros(2, dtype=torch.float64)),
    ]
    for make, torch_make in cases:
        made, expected = make(x), torch_make(t)
        assert made.dtype == expected.numpy().dtype
        np.testing.assert_array_equal(made.array, expected.numpy())
    assert x.new_empty(4, 1).shape == (4, 1) and x.new_empty(4, 1).dtype == x.dtype
    assert x.new_ones(2, requires_grad=source.dtype.kind == "f").requires_grad == (source.dtype.kind == "f")


def test_nelement_and_is_contiguous():
    x = ember.ones(2, 3)
    assert x.nelement() == 6 == x.numel()
    assert x.is_contiguous() and x.t().contiguous().is_contiguous()  # contiguous() returns the tensor itself


def test_bernoulli_draws_ones_with_the_given_probability():
    generator = ember.Generator().manual_seed(0)
    mask = ember.empty(20000).bernoulli_(0.3, generator=generator)
    assert mask.dtype == ember.float32 and set(np.unique(mask.array)) == {0.0, 1.0}
    assert abs(mask.mean().item() - 0.3) < 0.02  # 6 standard deviations (0.0032)
    probabilities = ember.tensor([0.0, 1.0, 0.0, 1.0], dtype=ember.float64)
    assert ember.bernoulli(probabilities).tolist() == [0.0, 1.0, 0.0, 1.0]
    assert ember.bernoulli(probabilities).dtype == ember.float64
    first = ember.zeros(5).bernoulli_(0.5, generator=ember.Generator().manual_seed(4))
    again = ember.zeros(5).bernoulli_(0.5, generator=ember.Generator().manual_seed(4))
    assert first.tolist() == again.tolist()
