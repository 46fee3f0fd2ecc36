"""Shape operations, joins, padding: gradcheck and PyTorch parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import ember
import ember.ops
from tests.helpers import check_gradients, check_parity, random_array

CASES = {
    "reshape": (lambda t: t.reshape(4, -1), lambda t: t.reshape(4, -1)),
    "view": (lambda t: t.view(2, 2, 6), lambda t: t.view(2, 2, 6)),
    "transpose": (lambda t: t.transpose(0, -1), lambda t: t.transpose(0, -1)),
    "permute": (lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    "T": (lambda t: t.T, lambda t: t.permute(2, 1, 0)),
    "flatten": (lambda t: t.flatten(1), lambda t: t.flatten(1)),
    "squeeze": (lambda t: t.reshape(1, 4, 1, 6).squeeze(), lambda t: t.reshape(1, 4, 1, 6).squeeze()),
    "squeeze_dim": (lambda t: t.reshape(1, 4, 1, 6).squeeze(2), lambda t: t.reshape(1, 4, 1, 6).squeeze(2)),
    "unsqueeze": (lambda t: t.unsqueeze(-1), lambda t: t.unsqueeze(-1)),
    "expand": (lambda t: t[:, :1].expand(3, -1, 5, -1), lambda t: t[:, :1].expand(3, -1, 5, -1)),
    "flip": (lambda t: t.flip((0, 2)), lambda t: t.flip((0, 2))),
    "repeat": (lambda t: t.repeat(2, 1, 1, 2), lambda t: t.repeat(2, 1, 1, 2)),
    "cat": (lambda t: ember.cat([t, t * 2], 1), lambda t: torch.cat([t, t * 2], 1)),
    "stack": (lambda t: ember.stack([t, t * 2], -1), lambda t: torch.stack([t, t * 2], -1)),
    "split": (
        lambda t: t.split(1, 1)[1] * t.split([2, 1], 1)[0][:, :1],
        lambda t: t.split(1, 1)[1] * t.split([2, 1], 1)[0][:, :1],
    ),
    "chunk": (lambda t: t.chunk(2, 2)[1], lambda t: t.chunk(2, 2)[1]),
    "unbind": (lambda t: t.unbind(1)[2], lambda t: t.unbind(1)[2]),
    "pad": (
        lambda t: ember.ops.pad(t, (1, 2, 0, 1), value=0.5),
        lambda t: torch.nn.functional.pad(t, (1, 2, 0, 1), value=0.5),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_operation(name):
    ember_fn, torch_fn = CASES[name]
    x = random_array((2, 3, 4))
    check_parity(ember_fn, torch_fn, [x])
    check_gradients(ember_fn, [x])


@given(shape=array_shapes(min_dims=1, max_dims=4, max_side=4), seed=st.integers(0, 2**16), data=st.data())
def test_permute_and_reshape_round_trips(shape, seed, data):
    dims = tuple(data.draw(st.permutations(range(len(shape)))))
    x = random_array(shape, seed=seed)
    check_parity(lambda t: t.permute(*dims).reshape(-1), lambda t: t.permute(*dims).reshape(-1), [x])


@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=4), seed=st.integers(0, 2**16), data=st.data())
def test_expand_from_broadcastable_shapes(shape, seed, data):
    source = tuple(data.draw(st.sampled_from([1, s])) for s in shape)
    x = random_array(source, seed=seed)
    target = (2, *shape)
    check_parity(lambda t: t.expand(*target), lambda t: t.expand(*target), [x])


def test_views_share_storage():
    x = ember.zeros(2, 3)
    x.view(6)[0] = 1.0
    x.transpose(0, 1)[1, 0] = 2.0
    np.testing.assert_array_equal(x.array, [[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])


def test_shape_errors_are_clear():
    with pytest.raises(
        ValueError, match=r"reshape: cannot view a tensor of shape \(2, 3\) \(6 elements\) as shape \(4, 2\)"
    ):
        ember.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(2, 3\) to \(4, 3\)"):
        ember.ones(2, 3).expand(4, 3)
    with pytest.raises(ValueError, match=r"cat: tensors must have the same shape except in dimension 0"):
        ember.cat([ember.ones(2, 3), ember.ones(2, 4)])
    with pytest.raises(ValueError, match="is not a permutation"):
        ember.ones(2, 3).permute(0, 0)


@pytest.mark.parametrize(("shifts", "dims"), [(1, 0), (-2, 1), ((1, 3), (0, -1)), (5, None), (-1, None)])
def test_roll_matches_pytorch(shifts, dims):
    x = random_array((3, 4), seed=0)
    check_gradients(lambda t: ember.roll(t, shifts, dims), [x])
    check_parity(lambda t: t.roll(shifts, dims), lambda t: t.roll(shifts, dims), [x])


@pytest.mark.parametrize(("repeats", "dim"), [(2, None), (2, 0), (3, -1), ([1, 0, 2], 1), ([2, 1], 0)])
def test_repeat_interleave_matches_pytorch(repeats, dim):
    x = random_array((2, 3), seed=1)

    def ember_repeats():
        return repeats if isinstance(repeats, int) else ember.tensor(repeats)

    def torch_repeats():
        return repeats if isinstance(repeats, int) else torch.tensor(repeats)

    check_gradients(lambda t: ember.repeat_interleave(t, ember_repeats(), dim), [x])
    check_parity(
        lambda t: t.repeat_interleave(ember_repeats(), dim),
        lambda t: t.repeat_interleave(torch_repeats(), dim),
        [x],
    )


def test_repeat_interleave_of_counts_alone_and_errors():
    assert ember.repeat_interleave(ember.tensor([2, 1])).tolist() == [0, 0, 1]
    with pytest.raises(RuntimeError, match=r"repeats must be a non-negative int or one per slice \(2 along"):
        ember.ones(2, 3).repeat_interleave(ember.tensor([1, 2, 3]), dim=0)


@pytest.mark.parametrize(("source", "destination"), [(0, 2), ((0, 1), (2, 0)), (-1, 0), ([1], [-1])])
def test_movedim_matches_pytorch(source, destination):
    x = random_array((2, 3, 4), seed=2)
    check_gradients(lambda t: ember.movedim(t, source, destination), [x])
    check_parity(lambda t: t.movedim(source, destination), lambda t: t.movedim(source, destination), [x])
    check_parity(lambda t: t.moveaxis(source, destination), lambda t: t.moveaxis(source, destination), [x])


@pytest.mark.parametrize(("dim", "start", "length"), [(0, 0, 1), (1, 1, 2), (-1, -3, 2), (2, 4, 0)])
def test_narrow_and_unflatten_match_pytorch(dim, start, length):
    x = random_array((2, 3, 4), seed=3)
    check_gradients(lambda t: ember.narrow(t, dim, start, length), [x])
    check_parity(lambda t: t.narrow(dim, start, length), lambda t: t.narrow(dim, start, length), [x])
    check_parity(lambda t: t.unflatten(-1, (2, -1)), lambda t: t.unflatten(-1, (2, -1)), [x])
    with pytest.raises(IndexError, match="narrow: start 3 and length 2 exceed dimension 1 of size 3"):
        ember.tensor(x).narrow(1, 3, 2)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_pytorch(indexing):
    a, b, c = random_array((3,), seed=4), random_array((2,), seed=5), random_array((4,), seed=6)
    check_gradients(lambda x, y: sum(g.sum() * (k + 1) for k, g in enumerate(ember.meshgrid(x, y))), [a, b])
    check_parity(
        lambda x, y, z: ember.meshgrid(x, y, z, indexing=indexing),
        lambda x, y, z: torch.meshgrid(x, y, z, indexing=indexing),
        [a, b, c],
    )
    check_parity(
        lambda x, y: ember.meshgrid([x, y], indexing=indexing),
        lambda x, y: torch.meshgrid([x, y], indexing=indexing),
        [a, b],
    )


def test_numel_and_is_tensor():
    assert ember.numel(ember.ones(2, 3)) == 6 and ember.is_tensor(ember.ones(1))
    assert not ember.is_tensor(np.ones(1)) and not ember.is_tensor([1.0])
