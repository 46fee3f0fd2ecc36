"""ember.distributed in one process: the local group, the sampler's semantics, and the data-parallel
wrapper's bookkeeping against a stand-in for a second rank."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import distributed as dist
from ember import nn, optim
from ember.distributed import DistributedDataParallel, DistributedError, DistributedSampler


class Twin(dist.Communicator):
    """Two ranks whose other one always holds the same values as this one: a sum doubles them."""

    rank, size = 0, 2

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def allreduce(self, array, op="sum"):
        self.calls.append(("allreduce", array.size))
        if op == "sum":
            array *= 2
        return array

    def broadcast(self, array, root=0):
        self.calls.append(("broadcast", array.size))
        return array

    def barrier(self):
        pass

    def start_allreduce(self, array):
        self.calls.append(("start", array.size))
        array *= 2
        return "handle"


def test_without_mpirun_the_group_is_this_process_alone():
    assert dist.launched_size() == 1 and not dist.is_initialized()
    world = dist.init_process_group()
    try:
        assert (dist.get_rank(), dist.get_world_size(), world.name) == (0, 1, "local")
        x = ember.tensor([1.0, 2.0])
        assert dist.all_reduce(x, dist.ReduceOp.MAX) is x and x.tolist() == [1.0, 2.0]
        dist.broadcast(x, src=0)
        dist.barrier()
        with pytest.raises(DistributedError, match="already initialized"):
            dist.init_process_group("local")
    finally:
        dist.destroy_process_group()
    assert not dist.is_initialized()
    with pytest.raises(DistributedError, match="backend must be 'mpi' or 'local'"):
        dist.init_process_group("nccl")
    with pytest.raises(DistributedError, match="contiguous"):
        dist.LocalCommunicator().allreduce(np.zeros((4, 4), np.float32)[:, 1])


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("n", [1, 10, 12, 23])
@pytest.mark.parametrize("drop_last", [False, True])
def test_the_shards_are_disjoint_and_cover_the_data_as_pytorch_defines_them(size, n, drop_last):
    shards = [DistributedSampler(range(n), size, rank, seed=3, drop_last=drop_last) for rank in range(size)]
    for sampler in shards:
        sampler.set_epoch(4)
    lists = [sampler.indices().tolist() for sampler in shards]
    length = n // size if drop_last else -(-n // size)
    assert all(len(indices) == len(sampler) == length for indices, sampler in zip(lists, shards, strict=True))
    joined = [i for indices in lists for i in indices]
    if drop_last:
        assert len(set(joined)) == len(joined) == length * size  # disjoint; the tail left out
    else:
        assert set(joined) == set(range(n))  # complete; padded by repeating the beginning
        assert len(joined) - len(set(joined)) == length * size - n


def test_the_order_depends_on_seed_and_epoch_only():
    first, again = DistributedSampler(range(50), 2, 0, seed=1), DistributedSampler(range(50), 2, 0, seed=1)
    assert list(first) == list(again)
    again.set_epoch(1)
    assert list(first) != list(again)
    first.load_state_dict(again.state_dict())
    assert list(first) == list(again)
    assert list(DistributedSampler(range(6), 2, 1, shuffle=False)) == [1, 3, 5]
    with pytest.raises(DistributedError, match="rank 2 is not in"):
        DistributedSampler(range(6), 2, 2)


def small() -> nn.Module:
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))


def step(model: nn.Module, optimizer) -> None:
    x = ember.from_numpy(np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32))
    loss = (model(x) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("overlap", [False, True])
def test_gradients_are_averaged_in_buckets_before_backward_returns(overlap):
    reference, twin = small(), Twin()
    model = DistributedDataParallel(small(), twin, bucket_cap_mb=30 * 4 / 2**20, overlap=overlap)
    assert twin.calls == [("broadcast", 5 * 8 + 8 + 8 * 3 + 3)]  # rank 0's parameters, in one message
    assert [len(bucket.parameters) for bucket in model.buckets] == [2, 1, 1]  # 27, 8 and 40 values
    for net in (reference, model):
        step(net, optim.SGD(net.parameters(), lr=0.1))
    calls = [name for name, _ in twin.calls[1:]]
    assert calls == (["start"] * 3 if overlap else ["allreduce"] * 3)
    for key, value in reference.state_dict().items():  # (g + g) / 2: the twin's average is the gradient
        np.testing.assert_array_equal(model.state_dict()[key].numpy(), value.numpy())


def test_an_unused_parameter_or_a_late_gradient_is_an_error():
    class Partly(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.used(x)

    model = DistributedDataParallel(Partly(), Twin())
    model(ember.ones(1, 2)).sum().backward()
    with pytest.raises(
        DistributedError, match=r"2 parameters received no gradient .*\(unused\.bias, unused\.weight"
    ):
        model(ember.ones(1, 2))

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.shared, self.last = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.shared(self.last(self.shared(x)))

    model = DistributedDataParallel(Twice(), Twin())
    with pytest.raises(
        DistributedError, match=r"shared\.\w+ received a gradient after its bucket was averaged"
    ):
        model(ember.ones(1, 2)).sum().backward()


def test_the_state_dict_is_the_wrapped_models_and_one_process_changes_nothing():
    plain = small()
    model = DistributedDataParallel(plain)
    assert (
        list(model.state_dict()) == list(plain.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    )
    model.load_state_dict(small().state_dict())
    x = ember.ones(2, 5)
    np.testing.assert_array_equal(model(x).detach().numpy(), plain(x).detach().numpy())


def test_sync_batch_norm_backward_agrees_with_numerical_gradients():
    from ember.distributed.batchnorm import SyncBatchNormFunction

    random = np.random.default_rng(0)
    x = ember.tensor(random.standard_normal((3, 2, 2, 2)), requires_grad=True)
    weight = ember.tensor(random.uniform(0.5, 1.5, 2), requires_grad=True)
    bias = ember.tensor(random.standard_normal(2), requires_grad=True)
    local, projection = dist.LocalCommunicator(), ember.tensor(random.standard_normal((3, 2, 2, 2)))

    def normalized(x, weight, bias):
        return SyncBatchNormFunction.apply(x, weight, bias, None, None, 0.1, 1e-5, local) * projection

    assert ember.gradcheck(normalized, (x, weight, bias))


def batch_normed() -> nn.Module:
    ember.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)
    )


def test_sync_batch_norm_normalizes_with_every_process_statistics():
    reference, twin = batch_normed(), Twin()
    synced = dist.SyncBatchNorm.convert_sync_batchnorm(batch_normed(), twin)
    assert isinstance(synced[1], dist.SyncBatchNorm) and [type(m).__name__ for m in synced][2:] == [
        "ReLU",
        "Flatten",
        "Linear",
    ]
    assert list(synced.state_dict()) == list(reference.state_dict())
    model = DistributedDataParallel(synced, twin)  # the twin's statistics and gradients are ours
    x = ember.from_numpy(np.random.default_rng(1).standard_normal((5, 1, 6, 6)).astype(np.float32))
    for net in (reference, model):
        optimizer = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for _ in range(3):
            loss = (net(x) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for key, value in reference.state_dict().items():  # not running_var: the twin doubles the count,
        if not key.endswith("running_var"):  # and so changes the unbiased estimate's n / (n - 1)
            np.testing.assert_allclose(model.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6)


def test_sync_batch_norm_takes_pytorchs_device_and_dtype_keywords():
    layer = dist.SyncBatchNorm(3, process_group=None, device="cpu", dtype=ember.float64)
    assert layer.weight.dtype == ember.float64 and layer.running_mean.dtype == ember.float64
