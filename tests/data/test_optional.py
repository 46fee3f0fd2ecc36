"""Core Ember needs NumPy alone: ``ember.data`` imports without Pillow and SciPy, and says what to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import ember
from ember.autograd import Tensor
from ember.data.transforms import RandomCrop, random_source

SRC = Path(__file__).resolve().parents[2] / "src"


def test_import_without_pillow_and_scipy() -> None:
    code = (
        "import sys; sys.modules['PIL'] = None; sys.modules['scipy'] = None\n"
        "import numpy as np\n"
        "from ember.data import MNIST, DataLoader, ArrayDataset\n"
        "from ember.data.transforms import Compose, RandomCrop, RandomRotation, ToTensor, save_image\n"
        "pipeline = Compose([RandomCrop(4), ToTensor()])\n"
        "data = ArrayDataset(np.zeros((4, 6, 6), np.uint8), [0, 1, 2, 3], pipeline)\n"
        "print(tuple(next(iter(DataLoader(data, batch_size=4)))[0].shape))\n"
        "try:\n"
        "    RandomRotation(10)(np.zeros((6, 6), np.uint8))\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)}, check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "(4, 1, 4, 4)"
    assert "pip install 'ember[vision]'" in lines[1]


def test_generator_precedence() -> None:
    x = Tensor(np.arange(4 * 1 * 6 * 6, dtype=np.float32).reshape(4, 1, 6, 6))
    own = RandomCrop(4, generator=ember.Generator(5))
    first = own(x).array
    with random_source(np.random.default_rng(0)):  # a transform's own generator wins over the loader's
        np.testing.assert_array_equal(RandomCrop(4, generator=ember.Generator(5))(x).array, first)
        stream = RandomCrop(4)(x).array
    with random_source(np.random.default_rng(0)):
        np.testing.assert_array_equal(RandomCrop(4)(x).array, stream)
    ember.manual_seed(1)
    by_default = RandomCrop(4)(x).array
    ember.manual_seed(1)
    np.testing.assert_array_equal(RandomCrop(4)(x).array, by_default)
    assert first.shape == (4, 1, 4, 4)  # a 4-d tensor is a batch: each sample cropped on its own
