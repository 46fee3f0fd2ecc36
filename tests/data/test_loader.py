"""DataLoader and samplers: PyTorch's semantics, determinism, the fast path, threads, and resuming."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.autograd import Tensor
from ember.data import (
    ArrayDataset,
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    random_split,
)
from ember.data.transforms import (
    ColorJitter,
    Compose,
    Lambda,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
    ToTensor,
)


def images(n: int = 50, channels: int = 0, seed: int = 0) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    shape = (n, 8, 8, channels) if channels else (n, 8, 8)
    return ArrayDataset(rng.integers(0, 256, shape, dtype=np.uint8), np.arange(n) % 10)


def collect(loader: DataLoader) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.array.copy(), y.array.copy()) for x, y in loader]


class Plain(Dataset):
    """A dataset with no fast path (sample by sample)."""

    def __init__(self, inner: ArrayDataset) -> None:
        self.inner = inner

    def __getitem__(self, index: int) -> tuple[object, object]:
        return self.inner[index]

    def __len__(self) -> int:
        return len(self.inner)


def test_batches_are_float32_nchw_and_int64() -> None:
    dataset = images(50)
    dataset.transform = Compose([ToTensor(), Normalize((0.5,), (0.25,))])
    loader = DataLoader(dataset, batch_size=16)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    x, y = batches[0]
    assert isinstance(x, Tensor) and x.shape == (16, 1, 8, 8) and x.dtype == np.float32
    assert y.dtype == np.int64 and y.array.tolist() == list(np.arange(16) % 10)
    assert batches[-1][0].shape[0] == 2
    assert len(DataLoader(dataset, batch_size=16, drop_last=True)) == 3
    assert [len(b[0]) for b in DataLoader(dataset, batch_size=16, drop_last=True)] == [16, 16, 16]


def test_fast_path_equals_sample_by_sample() -> None:
    dataset = images(30, channels=3)
    dataset.transform = Compose([ToTensor(), Normalize((0.4, 0.5, 0.6), (0.2, 0.25, 0.3))])
    fast, slow = DataLoader(dataset, batch_size=7), DataLoader(Plain(dataset), batch_size=7)
    assert fast.vectorized and not slow.vectorized
    for (xf, yf), (xs, ys) in zip(collect(fast), collect(slow), strict=True):
        np.testing.assert_array_equal(xf, xs)
        np.testing.assert_array_equal(yf, ys)
    # Without a transform, images come out as collated uint8 arrays (N x H x W x C), like stacked samples.
    dataset.transform = None
    x, _ = next(iter(DataLoader(dataset, batch_size=4)))
    assert x.dtype == np.uint8 and x.shape == (4, 8, 8, 3)
    np.testing.assert_array_equal(x.array, dataset.data[:4])


def test_per_sample_transforms_still_work_in_the_fast_path() -> None:
    dataset = images(12)
    dataset.transform = Compose([ToTensor(), Lambda(lambda t: t * 2)])
    dataset.target_transform = lambda y: y + 100
    x, y = next(iter(DataLoader(dataset, batch_size=12)))
    np.testing.assert_allclose(x.array[:, 0], dataset.data.astype(np.float32) / 255 * 2, rtol=1e-6)
    assert y.array.tolist() == [int(t) + 100 for t in dataset.targets]


def test_shuffle_is_deterministic_for_a_seed_and_reshuffles_each_epoch() -> None:
    dataset = images(40)
    first = DataLoader(dataset, batch_size=40, shuffle=True, generator=ember.Generator(7))
    second = DataLoader(dataset, batch_size=40, shuffle=True, generator=ember.Generator(7))
    a1, a2 = collect(first), collect(first)
    b1, b2 = collect(second), collect(second)
    np.testing.assert_array_equal(a1[0][1], b1[0][1])
    np.testing.assert_array_equal(a2[0][1], b2[0][1])
    assert not np.array_equal(a1[0][1], a2[0][1])
    assert sorted(a1[0][1].tolist()) == sorted(dataset.targets.tolist())
    ember.manual_seed(3)
    c = collect(DataLoader(dataset, batch_size=40, shuffle=True))
    ember.manual_seed(3)
    d = collect(DataLoader(dataset, batch_size=40, shuffle=True))
    np.testing.assert_array_equal(c[0][0], d[0][0])


@pytest.mark.parametrize("workers", [1, 3])
def test_threads_give_the_same_batches_as_no_threads(workers: int) -> None:
    dataset = images(64, channels=3)
    dataset.transform = Compose(
        [RandomCrop(8, padding=2), RandomHorizontalFlip(), ToTensor(), ColorJitter(0.3, 0.3, 0.3, 0.1)]
    )
    serial = collect(DataLoader(dataset, batch_size=8, shuffle=True, generator=ember.Generator(1)))
    threaded = DataLoader(
        dataset, batch_size=8, shuffle=True, generator=ember.Generator(1), num_workers=workers
    )
    for (xa, ya), (xb, yb) in zip(serial, collect(threaded), strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    plain = collect(
        DataLoader(Plain(dataset), batch_size=8, generator=ember.Generator(2), num_workers=workers)
    )
    again = collect(DataLoader(Plain(dataset), batch_size=8, generator=ember.Generator(2)))
    for (xa, _), (xb, _) in zip(plain, again, strict=True):
        np.testing.assert_array_equal(xa, xb)


def test_resume_mid_epoch_continues_bit_for_bit() -> None:
    dataset = images(50)
    dataset.transform = Compose([RandomRotation(30), ToTensor()])

    def make() -> DataLoader:
        return DataLoader(dataset, batch_size=8, shuffle=True, generator=ember.Generator(5), num_workers=2)

    reference = make()
    expected = collect(reference) + collect(reference)  # two epochs
    interrupted = make()
    seen, state = [], None
    for i, (x, y) in enumerate(interrupted):
        seen.append((x.array.copy(), y.array.copy()))
        if i == 2:
            state = interrupted.state_dict()
            break
    assert state is not None and state["batches_yielded"] == 3 and interrupted.epoch == 0
    resumed = make()
    resumed.load_state_dict(state)
    rest = collect(resumed) + collect(resumed)
    assert resumed.epoch == 1
    for (xa, ya), (xb, yb) in zip(expected, seen + rest, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_resume_at_an_epoch_boundary_starts_the_next_epoch() -> None:
    dataset = images(20)
    reference = DataLoader(dataset, batch_size=5, shuffle=True, generator=ember.Generator(9))
    collect(reference)
    state = reference.state_dict()
    following = collect(reference)
    resumed = DataLoader(dataset, batch_size=5, shuffle=True, generator=ember.Generator(123))
    resumed.load_state_dict(state)
    for (_, ya), (_, yb) in zip(following, collect(resumed), strict=True):
        np.testing.assert_array_equal(ya, yb)


def test_batch_size_none_custom_collate_and_batch_sampler() -> None:
    dataset = TensorDataset(np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6))
    single = list(DataLoader(dataset, batch_size=None))
    assert len(single) == 6 and single[2][1].item() == 2
    loader = DataLoader(dataset, batch_sampler=BatchSampler(SequentialSampler(dataset), 4, drop_last=False))
    assert [y.array.tolist() for _, y in loader] == [[0, 1, 2, 3], [4, 5]]
    summed = DataLoader(dataset, batch_size=3, collate_fn=lambda batch: sum(int(y) for _, y in batch))
    assert list(summed) == [3, 12]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(dataset, sampler=SequentialSampler(dataset), shuffle=True)


def test_default_collate_matches_torch() -> None:
    samples = [(np.ones((2, 2), np.float32) * i, i, float(i), "name", {"k": i}) for i in range(3)]
    images_, ints, floats, names, dicts = default_collate(samples)
    assert images_.shape == (3, 2, 2) and images_.dtype == np.float32
    assert ints.dtype == np.int64 and floats.dtype == np.float64
    assert names == ["name"] * 3 and dicts["k"].array.tolist() == [0, 1, 2]
    reference = torch.utils.data.default_collate([(i, float(i)) for i in range(3)])
    assert str(reference[0].dtype) == "torch.int64" and str(reference[1].dtype) == "torch.float64"


def test_samplers() -> None:
    data = list(range(10))
    sampler = RandomSampler(data, generator=ember.Generator(0))
    assert sorted(sampler) == data and list(sampler) != list(sampler)
    with_replacement = RandomSampler(data, replacement=True, num_samples=25, generator=ember.Generator(0))
    assert len(list(with_replacement)) == 25 and len(with_replacement) == 25
    longer = RandomSampler(data, num_samples=25, generator=ember.Generator(0))
    drawn = list(longer)
    assert sorted(drawn[:10]) == data and len(drawn) == 25
    subset = SubsetRandomSampler([3, 5, 7], generator=ember.Generator(0))
    assert sorted(subset) == [3, 5, 7]
    weighted = WeightedRandomSampler([0, 0, 1, 3], 4000, generator=ember.Generator(0))
    counts = np.bincount(list(weighted), minlength=4)
    assert counts[0] == counts[1] == 0 and 0.2 < counts[2] / 4000 < 0.3
    first = list(sampler)
    state = sampler.state_dict()  # this epoch's seed and the generator after drawing it
    second = list(sampler)
    fresh = RandomSampler(data, generator=ember.Generator(99))
    fresh.load_state_dict(state)
    assert list(fresh) == first  # the saved epoch is replayed ...
    assert list(fresh) == second  # ... and the generator continues from where it was


def test_subset_concat_and_random_split() -> None:
    dataset = images(20)
    subset = Subset(dataset, [4, 2, 9])
    assert len(subset) == 3 and subset[1][1] == 2
    x, y = next(iter(DataLoader(subset, batch_size=3)))
    assert y.array.tolist() == [4, 2, 9] and DataLoader(subset).vectorized
    np.testing.assert_array_equal(x.array[1], dataset.data[2])
    subset.indices = [7, 3]  # assigned indices replace the array the fast path indexes
    assert next(iter(DataLoader(subset, batch_size=2)))[1].array.tolist() == [7, 3]
    subset.indices = [4, 2, 9]
    both = ConcatDataset([subset, Subset(dataset, [0])])
    assert len(both) == 4 and both[3][1] == 0 and both[-1][1] == 0
    parts = random_split(dataset, [0.5, 0.3, 0.2], generator=ember.Generator(0))
    assert [len(p) for p in parts] == [10, 6, 4]
    assert sorted(i for p in parts for i in p.indices) == list(range(20))
    again = random_split(dataset, [10, 6, 4], generator=ember.Generator(0))
    assert [p.indices for p in parts] == [p.indices for p in again]
    with pytest.raises(ValueError, match="add up"):
        random_split(dataset, [5, 5])


def test_tensor_dataset_fast_path() -> None:
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    dataset = TensorDataset(ember.tensor(x), np.arange(6))
    assert dataset[2][0].array.tolist() == x[2].tolist()
    xb, yb = next(iter(DataLoader(dataset, batch_size=6, shuffle=True, generator=ember.Generator(0))))
    np.testing.assert_array_equal(xb.array, x[yb.array])
