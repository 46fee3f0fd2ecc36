"""MNIST and Fashion-MNIST on the real files, CIFAR on small real-format files, ImageFolder, IDX."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from ember.autograd import Tensor
from ember.data import CIFAR10, CIFAR100, MNIST, DatasetNotFoundError, FashionMNIST, ImageFolder
from ember.data.datasets.mnist import read_idx
from ember.data.transforms import Compose, Normalize, ToTensor

from .conftest import MNIST_DIR, cifar_batch, idx_bytes, mnist_arrays, py2_pickle, write_cifar10

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def test_mnist_real_files_have_the_published_counts() -> None:
    train, test = MNIST(MNIST_DIR, train=True), MNIST(MNIST_DIR, train=False)
    np.testing.assert_array_equal(train.data, mnist_arrays(train=True)[0])  # the shared copy for other tests
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    assert test.data.shape == (10000, 28, 28)
    assert np.bincount(train.targets).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(test.targets).tolist() == MNIST_TEST_COUNTS
    assert train.targets.dtype == np.int64 and len(train.classes) == 10


def test_mnist_sample_is_torchvision_like_and_transformed() -> None:
    dataset = MNIST(MNIST_DIR, train=False, transform=Compose([ToTensor(), Normalize((0.1307,), (0.3081,))]))
    image, label = dataset[0]
    assert isinstance(image, Tensor) and image.shape == (1, 28, 28) and image.dtype == np.float32
    assert label == 7  # the first test digit is a 7
    expected = (dataset.data[0].astype(np.float32) / np.float32(255) - np.float32(0.1307)) / np.float32(
        0.3081
    )
    np.testing.assert_array_equal(image.array[0], expected)
    raw, _ = MNIST(MNIST_DIR, train=False)[0]
    assert isinstance(raw, np.ndarray) and raw.shape == (28, 28) and raw.dtype == np.uint8


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_package_without_root() -> None:
    train, test = FashionMNIST(train=True), FashionMNIST(train=False)
    assert train.folder == FASHION_DIR
    assert len(train) == 60000 and len(test) == 10000
    assert np.bincount(train.targets).tolist() == [6000] * 10
    assert np.bincount(test.targets).tolist() == [1000] * 10


def test_missing_data_names_every_place_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBER_DATA", str(tmp_path / "shared"))
    monkeypatch.setattr(FashionMNIST, "system_dirs", (str(tmp_path / "system"),))
    with pytest.raises(DatasetNotFoundError) as error:
        FashionMNIST(tmp_path / "root")
    message = str(error.value)
    for place in ("root", "root/FashionMNIST/raw", "shared/fashion-mnist", "cache/ember", "system"):
        assert str(tmp_path / place) in message
    assert "download=True" in message and "EMBER_DATA" in message


def test_found_in_ember_data_and_torchvision_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    labels = np.array([3, 4], dtype=np.uint8)
    layout = tmp_path / "data" / "MNIST" / "raw"
    layout.mkdir(parents=True)
    (layout / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))  # uncompressed works too
    (layout / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    monkeypatch.setenv("EMBER_DATA", str(tmp_path / "data"))
    dataset = MNIST(train=False)
    assert dataset.folder == layout
    np.testing.assert_array_equal(dataset.data, images)
    assert dataset.targets.tolist() == [3, 4]


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(idx_bytes(np.zeros((4, 2), np.uint8))[:-3])
    with pytest.raises(ValueError, match="header announces"):
        read_idx(tmp_path / "short")


def test_cifar10_small_files_in_real_format(tmp_path: Path) -> None:
    arrays = write_cifar10(tmp_path / "cifar-10-batches-py", n=4)
    train, test = CIFAR10(tmp_path, train=True), CIFAR10(tmp_path, train=False)
    assert train.data.shape == (20, 32, 32, 3) and test.data.shape == (4, 32, 32, 3)
    assert train.classes[0] == "airplane" and train.class_to_idx["truck"] == 9
    # Row-major planes R, G, B become H x W x C: pixel (0, 1) of image 0 is data[1], data[1025], data[2049].
    first = arrays["data_batch_1"][0]
    assert train.data[0, 0, 1].tolist() == [first[1], first[1025], first[2049]]
    image, label = train[5]
    assert image.shape == (32, 32, 3) and isinstance(label, int)


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 6), ("test", 3)):
        raw, _ = cifar_batch(n, 1, label_key=b"fine_labels", classes=100)
        (folder / name).write_bytes(raw)
    names = [f"class{i}".encode() for i in range(100)]
    (folder / "meta").write_bytes(py2_pickle({b"fine_label_names": names, b"coarse_label_names": []}))
    dataset = CIFAR100(tmp_path)
    assert len(dataset) == 6 and len(dataset.classes) == 100 and dataset.targets.max() < 100


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, count in (("cat", 2), ("dog", 3)):
        (tmp_path / name).mkdir()
        for i in range(count):
            pixels = rng.integers(0, 256, (5 + i, 7, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    dataset = ImageFolder(tmp_path)
    assert dataset.classes == ["cat", "dog"] and dataset.class_to_idx == {"cat": 0, "dog": 1}
    assert len(dataset) == 5 and dataset.targets == [0, 0, 1, 1, 1]
    image, label = dataset[3]
    assert image.shape == (6, 7, 3) and image.dtype == np.uint8 and label == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        ImageFolder(tmp_path)
