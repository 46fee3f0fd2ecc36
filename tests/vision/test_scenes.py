"""The scenes data set: its invariants (tight boxes, disjoint masks, the ownership rule), its draw (pinned by
a hash so the set never drifts), the localization variant, Fashion-MNIST, and the pictures."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from ember.data import DataLoader
from ember.vision import ops
from ember.vision.datasets import Scenes
from ember.vision.datasets.scenes import ScenesError, compose, generate_scene, place_objects
from ember.viz.scenes import save_scene_grid, save_segmentation_grid
from tests.vision.conftest import FASHION_DIR, MNIST_DIR


@pytest.fixture(scope="module")
def scenes() -> Scenes:
    return Scenes(MNIST_DIR, size=300)


def digest(dataset: Scenes, count: int) -> str:
    hasher = hashlib.sha256()
    for scene in dataset.scenes[:count]:
        for part in (scene.image, scene.boxes, scene.labels, scene.masks, scene.semantic):
            hasher.update(np.ascontiguousarray(part).tobytes())
    return hasher.hexdigest()[:16]


def test_the_first_scenes_never_drift(scenes):
    # Elementwise float64 arithmetic only (no BLAS), so the bits are the same on every CPU.
    assert digest(scenes, 50) == "083467609ebc29af"
    assert digest(Scenes(MNIST_DIR, train=False, size=20), 20) == "c64f7a6a958d1325"


def test_a_scene_does_not_depend_on_how_many_are_made(scenes):
    fewer = Scenes(MNIST_DIR, size=7)
    assert digest(fewer, 7) == digest(scenes, 7)
    assert digest(Scenes(MNIST_DIR, size=7, seed=1), 7) != digest(fewer, 7)


def test_invariants(scenes):
    counts = []
    for scene in scenes.scenes:
        assert scene.image.shape == (64, 64) and scene.image.dtype == np.float32
        assert scene.image.min() >= 0 and scene.image.max() <= 1
        assert scene.masks.sum(axis=0).max() <= 1  # disjoint
        assert (scene.masks.sum(axis=(1, 2)) >= 10).all()
        assert ((scene.labels >= 1) & (scene.labels <= 10)).all()
        # boxes are the tight, half-open extent of each mask
        tight = ops.masks_to_boxes(scene.masks).array + np.array([0, 0, 1, 1], dtype=np.float32)
        assert np.array_equal(scene.boxes, tight)
        expected = np.zeros((64, 64), dtype=np.uint8)
        for mask, label in zip(scene.masks, scene.labels, strict=True):
            expected[mask] = label
        assert np.array_equal(scene.semantic, expected)
        # every owned pixel is at least the threshold bright
        assert (scene.image[scene.semantic > 0] >= 0.5).all()
        counts.append(len(scene.labels))
    assert set(counts) == {1, 2, 3}


def test_ownership_goes_to_the_brightest_object_above_the_threshold():
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    images[0] = 153  # 0.6 everywhere
    images[1, :, :14] = 230  # 0.9 on its left half, 0.4 (below 0.5) on its right half
    images[1, :, 14:] = 102
    scene = compose(images, np.array([3, 7]), [(0, 0, 0, 28), (1, 0, 0, 28)], threshold=0.5)
    assert scene.labels.tolist() == [4, 8]
    # the left half belongs to the brighter object 2; the right half to object 1 (object 2 is under 0.5)
    assert scene.boxes.tolist() == [[14, 0, 28, 28], [0, 0, 14, 28]]
    assert scene.image[0, 20] == pytest.approx(0.6) and scene.image[0, 2] == pytest.approx(230 / 255)


def test_objects_are_resized_as_torch_interpolates():
    images = np.random.default_rng(0).integers(0, 256, (1, 28, 28)).astype(np.uint8)
    scene = compose(images, np.array([0]), [(0, 5, 7, 23)], threshold=0.01)
    expected = torch.nn.functional.interpolate(
        torch.tensor(images[None] / 255.0), size=(23, 23), mode="bilinear", align_corners=False
    ).numpy()[0, 0]
    np.testing.assert_allclose(scene.image[7:30, 5:28], expected, rtol=1e-6, atol=1e-6)


def test_placements_overlap_at_most_iou_0_2():
    rng = np.random.default_rng(0)
    for _ in range(200):
        placed = place_objects(rng, 3, 10)
        squares = [[x, y, x + s, y + s] for _, x, y, s in placed]
        iou = ops.box_iou(squares, squares).array
        assert (iou[~np.eye(len(squares), dtype=bool)] <= 0.2 + 1e-6).all()
        assert all(20 <= s <= 36 and x + s <= 64 and y + s <= 64 for _, x, y, s in placed)


def test_target_types_and_the_loader(scenes):
    image, target = scenes[0]
    assert image.shape == (1, 64, 64) and set(target) == {"boxes", "labels", "masks"}
    semantic = Scenes(MNIST_DIR, size=4, target_type="semantic")
    images, maps = next(iter(DataLoader(semantic, batch_size=4)))
    assert images.shape == (4, 1, 64, 64) and maps.shape == (4, 64, 64) and str(maps.dtype) == "int64"
    assert np.array_equal(maps.array[0], scenes.scenes[0].semantic)


def test_the_localization_variant_has_exactly_one_object():
    single = Scenes(MNIST_DIR, size=100, target_type="localization")
    assert all(len(scene.labels) == 1 for scene in single.scenes)
    _, (label, box) = single[0]
    assert 0 <= label <= 9 and box.shape == (4,) and label == single.scenes[0].labels[0] - 1
    _, (labels, boxes) = next(iter(DataLoader(single, batch_size=8)))
    assert labels.shape == (8,) and boxes.shape == (8, 4)


def test_fashion_scenes_use_their_own_threshold():
    fashion = Scenes(FASHION_DIR, source="fashion-mnist", size=50)
    assert fashion.threshold == 0.2 and fashion.classes[0] == "T-shirt/top"
    for scene in fashion.scenes:
        assert (scene.image[scene.semantic > 0] >= 0.2).all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"source": "cifar"}, "unknown source 'cifar'"),
        ({"target_type": "boxes"}, "target_type must be one of"),
        ({"objects": (2, 1)}, "1 <= least <= most"),
        ({"target_type": "localization", "objects": (1, 2)}, "exactly one object"),
        ({"threshold": 0}, r"threshold is an intensity in \(0, 1\]"),
    ],
)
def test_bad_settings_are_refused_with_one_message(options, message):
    with pytest.raises(ScenesError, match=message):
        Scenes(MNIST_DIR, size=1, **options)


def test_generation_is_a_pure_function_of_seed_and_index():
    images = np.random.default_rng(1).integers(0, 256, (30, 28, 28)).astype(np.uint8)
    targets = np.arange(30) % 10
    a = generate_scene(images, targets, 5, 3)
    b = generate_scene(images, targets, 5, 3)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)


def test_pictures(tmp_path, scenes):
    samples = [scenes[i] for i in range(6)]
    save_scene_grid(
        tmp_path / "grid.png", [s[0] for s in samples], [s[1] for s in samples], scenes.classes, columns=4
    )
    maps = np.stack([scene.semantic for scene in scenes.scenes[:3]])
    save_segmentation_grid(tmp_path / "seg.png", scenes.images[:3], maps, maps)
    for name in ("grid.png", "seg.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
