"""The data sets ``ember train`` knows: class, image shape, channel statistics, the recipe's usual
augmentation and epochs, and how to get the files: the one table of data set names, read by the
configuration's checks, by the recipes that build a run and by ``ember train --help``."""

from __future__ import annotations

from dataclasses import dataclass

from ember.registry import Registry


@dataclass(frozen=True)
class DatasetInfo:
    """What a run needs to know about a data set: its class, shape, statistics and usual augmentation."""

    class_name: str
    channels: int
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: tuple[str, ...]
    epochs: int  # the recipe's default: what a small CNN needs here (measured: docs/training.md)
    how_to_get: str  # where to put the files (the commands that can download add how: downloadable)
    downloadable: bool = False
    num_classes: int = 10
    train_images: int = 60_000
    test_images: int = 10_000
    dark_background: bool = False  # light shapes on black (a photo of dark ink on white is inverted)
    val_size: int = 5000  # the recipe's held-out images
    source: str = ""  # scenes: the data set their objects come from (ember.vision.datasets.Scenes)


DATASETS = Registry(
    "dataset",
    entries={
        "mnist": DatasetInfo(
            "MNIST",
            1,
            28,
            (0.1307,),
            (0.3081,),
            ("crop",),  # no flips: a mirrored digit is not the same digit
            12,
            "put the four MNIST files (train-images-idx3-ubyte.gz, ...) in a folder and pass --data-root, "
            "or set EMBER_DATA",
            downloadable=True,
            dark_background=True,
        ),
        "fashion-mnist": DatasetInfo(
            "FashionMNIST",
            1,
            28,
            (0.2860,),
            (0.3530,),
            ("flip",),  # crops slowed a short run down more than they helped (measured: docs/training.md)
            8,
            "on Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist (installs it in "
            "/usr/share/datasets/fashion-mnist); or put the four files in a folder and pass --data-root, "
            "or set EMBER_DATA",
            downloadable=True,
            dark_background=True,
        ),
        "cifar10": DatasetInfo(
            "CIFAR10",
            3,
            32,
            (0.4914, 0.4822, 0.4465),
            (0.2470, 0.2435, 0.2616),
            ("crop", "flip"),
            30,
            "put cifar-10-batches-py (or the .tar.gz) in a folder and pass --data-root, or set EMBER_DATA",
            train_images=50_000,
        ),
        "cifar100": DatasetInfo(
            "CIFAR100",
            3,
            32,
            (0.5071, 0.4865, 0.4409),
            (0.2673, 0.2564, 0.2762),
            ("crop", "flip"),
            30,
            "put cifar-100-python (or the .tar.gz) in a folder and pass --data-root, or set EMBER_DATA",
            num_classes=100,
            train_images=50_000,
        ),
        "scenes": DatasetInfo(
            "Scenes",  # ember.vision.datasets.Scenes: digits on a 64x64 canvas (--task segment, localize)
            1,
            64,
            (0.0,),  # the canvases are used as they are, in [0, 1]
            (1.0,),
            (),  # flips and crops would have to move the masks and boxes too
            8,
            "the scenes are generated from MNIST: put its four files in a folder and pass --data-root, "
            "or set EMBER_DATA",
            train_images=5_000,
            test_images=1_000,
            dark_background=True,
            val_size=500,
            source="mnist",
        ),
        "fashion-scenes": DatasetInfo(
            "Scenes",
            1,
            64,
            (0.0,),
            (1.0,),
            (),
            8,
            "the scenes are generated from Fashion-MNIST: on Debian or Ubuntu sudo apt-get install "
            "dataset-fashion-mnist, or put its four files in a folder and pass --data-root",
            train_images=5_000,
            test_images=1_000,
            dark_background=True,
            val_size=500,
            source="fashion-mnist",
        ),
    },
)
