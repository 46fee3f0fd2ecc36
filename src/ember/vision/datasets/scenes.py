"""Scenes: 64 x 64 canvases of 1-3 real MNIST digits (or Fashion-MNIST garments), with boxes, instance masks,
a semantic map and labels, generated deterministically on the fly; the data of the lectures' tasks beyond
classification (semantic segmentation, classification + localization, detection, instance segmentation).

How a scene is drawn (``generate_scene``), every random number from one generator seeded by (split seed,
scene index), in a fixed order, so a scene does not depend on how many are made or in which order:
the number of objects (uniform in ``objects``); then for each object the source image (uniform over the
split), its side (uniform integer 20-36 px; the 28 x 28 image resized bilinearly, half-pixel centres, no
antialiasing: ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``) and its position
(uniform), the position drawn again while its square's IoU with an earlier object's exceeds 0.2 (at most 50
tries, then the object is left out). The canvas is the pixelwise maximum of the objects, in [0, 1].

Annotations: a pixel belongs to the brightest object there, counted only where that object's own intensity
is at least ``threshold`` (0.5 for MNIST; 0.2 for Fashion-MNIST, whose garments are dimmer: 0.2 keeps 91% of
a garment's inked pixels, as 0.5 keeps the whole stroke of a digit but only 68% of a garment's ink, and
leaves 1.4% of the smallest garments under the 10-pixel floor; measured in docs/vision.md). An object's
instance mask is the pixels it owns (an object owning fewer than 10 is dropped from the annotations); its box
the tight extent of its mask in half-open (x1, y1, x2, y2) pixels (x2 - x1 is the width); the semantic map 0
for background and 1 + class; detection labels are 1 + class (torchvision's convention: 0 is background).

Training scenes come from the source's training images, test scenes from its test images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ember.data import MNIST, FashionMNIST
from ember.data.dataset import Dataset
from ember.errors import EmberError
from ember.nn.functional.upsampling import resize

CANVAS = 64
SIDES = (20, 36)  # the smallest and largest side of an object, inclusive
MAX_IOU = 0.2
TRIES = 50
MIN_PIXELS = 10
SOURCES: dict[str, tuple[Any, float]] = {"mnist": (MNIST, 0.5), "fashion-mnist": (FashionMNIST, 0.2)}
SEEDS = {True: 18_000, False: 18_001}  # the training and test scenes' seeds
SIZES = {True: 5000, False: 1000}
TARGET_TYPES = ("detection", "semantic", "localization")


class ScenesError(EmberError, ValueError):
    """Settings the scenes cannot be made with (an unknown source, a bad range of objects, ...)."""


@dataclass
class Scene:
    """One scene: the canvas (64 x 64 float32 in [0, 1]) and its annotations."""

    image: np.ndarray
    boxes: np.ndarray  # (K, 4) float32, half-open (x1, y1, x2, y2)
    labels: np.ndarray  # (K,) int64, 1 + class
    masks: np.ndarray  # (K, 64, 64) bool, disjoint
    semantic: np.ndarray  # (64, 64) uint8, 0 background, 1 + class


def square_iou(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """IoU of two squares given as (x, y, side)."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1])
    inter = max(width, 0) * max(height, 0)
    return inter / (a[2] ** 2 + b[2] ** 2 - inter)


def place_objects(rng: np.random.Generator, count: int, sources: int) -> list[tuple[int, int, int, int]]:
    """(source index, x, y, side) of each object that found a place (see the module's docstring)."""
    placed: list[tuple[int, int, int, int]] = []
    for _ in range(count):
        source = int(rng.integers(sources))
        side = int(rng.integers(SIDES[0], SIDES[1] + 1))
        for _ in range(TRIES):
            x, y = (int(v) for v in rng.integers(0, CANVAS - side + 1, size=2))
            if all(square_iou((x, y, side), (px, py, ps)) <= MAX_IOU for _, px, py, ps in placed):
                placed.append((source, x, y, side))
                break
    return placed


def compose(
    images: np.ndarray, targets: np.ndarray, placed: list[tuple[int, int, int, int]], threshold: float
) -> Scene:
    """The canvas and annotations of objects placed at (source, x, y, side); ``images`` uint8 N x 28 x 28."""
    layers = np.zeros((len(placed), CANVAS, CANVAS), dtype=np.float32)
    for k, (source, x, y, side) in enumerate(placed):
        digit = resize(images[source].astype(np.float64) / 255.0, (side, side))
        layers[k, y : y + side, x : x + side] = np.clip(digit, 0.0, 1.0)
    image = layers.max(axis=0) if len(placed) else np.zeros((CANVAS, CANVAS), dtype=np.float32)
    eligible = np.where(layers >= threshold, layers, -1.0)
    owner = eligible.argmax(axis=0) if len(placed) else np.zeros((CANVAS, CANVAS), dtype=np.int64)
    owned = eligible.max(axis=0) >= 0 if len(placed) else np.zeros((CANVAS, CANVAS), dtype=bool)
    boxes, labels, masks = [], [], []
    semantic = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    for k, (source, *_) in enumerate(placed):
        mask = owned & (owner == k)
        if mask.sum() < MIN_PIXELS:
            continue
        ys, xs = np.nonzero(mask)
        boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        labels.append(1 + int(targets[source]))
        masks.append(mask)
        semantic[mask] = labels[-1]
    return Scene(
        image=image,
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        labels=np.asarray(labels, dtype=np.int64),
        masks=np.asarray(masks, dtype=bool).reshape(-1, CANVAS, CANVAS),
        semantic=semantic,
    )


def generate_scene(
    images: np.ndarray,
    targets: np.ndarray,
    seed: int,
    index: int,
    objects: tuple[int, int] = (1, 3),
    threshold: float = 0.5,
) -> Scene:
    """Scene ``index`` of the scenes seeded by ``seed``, from ``images`` (uint8 N x 28 x 28) and their
    class ``targets``. With ``objects == (1, 1)`` (localization) a scene always holds exactly one object:
    one whose mask falls under 10 pixels is drawn again."""
    rng = np.random.default_rng([seed, index])
    while True:
        count = int(rng.integers(objects[0], objects[1] + 1))
        scene = compose(images, targets, place_objects(rng, count, len(images)), threshold)
        if objects != (1, 1) or len(scene.labels) == 1:
            return scene


class Scenes(Dataset):
    """ "MNIST scenes" (``source="mnist"``) or Fashion-MNIST scenes: ``size`` scenes of 1 x 64 x 64.

    ``target_type``: 'detection' gives torchvision's target dict (``boxes`` float32 (K, 4), ``labels``
    int64 (K,), ``masks`` uint8 (K, 64, 64)); 'semantic' the (64, 64) int64 map; 'localization' (exactly
    one object per scene) a pair (class index 0-9, box float32 (4,) in pixels). ``transform`` is applied
    to the (1, 64, 64) float32 image. The source images are found as ``ember.data.MNIST`` finds them
    (``root``, ``$EMBER_DATA``, ...).
    """

    def __init__(
        self,
        root: str | None = None,
        train: bool = True,
        source: str = "mnist",
        size: int | None = None,
        target_type: str = "detection",
        objects: tuple[int, int] | None = None,
        threshold: float | None = None,
        transform: Callable[[np.ndarray], Any] | None = None,
        seed: int | None = None,
        download: bool = False,
    ) -> None:
        if source not in SOURCES:
            raise ScenesError(f"Scenes: unknown source {source!r}; use one of {', '.join(SOURCES)}")
        if target_type not in TARGET_TYPES:
            raise ScenesError(
                f"Scenes: target_type must be one of {', '.join(TARGET_TYPES)}, got {target_type!r}"
            )
        localization = target_type == "localization"
        given = tuple(objects) if objects is not None else ((1, 1) if localization else (1, 3))
        if len(given) != 2 or not 1 <= given[0] <= given[1]:
            raise ScenesError(
                f"Scenes: objects is a range (least, most) with 1 <= least <= most, got {given}"
            )
        objects = (int(given[0]), int(given[1]))
        if localization and objects != (1, 1):
            raise ScenesError(
                "Scenes: target_type='localization' has exactly one object per scene (objects=(1, 1))"
            )
        size = SIZES[train] if size is None else int(size)
        if size < 0:
            raise ScenesError(f"Scenes: size is a number of scenes, got {size}")
        cls, default_threshold = SOURCES[source]
        self.threshold = default_threshold if threshold is None else float(threshold)
        if not 0 < self.threshold <= 1:
            raise ScenesError(f"Scenes: threshold is an intensity in (0, 1], got {self.threshold}")
        base = cls(root=root, train=train, download=download)
        self.source, self.train, self.target_type, self.objects = source, train, target_type, objects
        self.seed = SEEDS[train] if seed is None else int(seed)
        self.transform = transform
        self.classes = list(base.classes)
        images, targets = np.asarray(base.data), np.asarray(base.targets)
        self.scenes = [
            generate_scene(images, targets, self.seed, i, objects, self.threshold) for i in range(size)
        ]

    def __len__(self) -> int:
        return len(self.scenes)

    @property
    def images(self) -> np.ndarray:
        """All canvases as one (N, 1, 64, 64) float32 array."""
        return (
            np.stack([scene.image for scene in self.scenes])[:, None]
            if self.scenes
            else np.zeros((0, 1, CANVAS, CANVAS), np.float32)
        )

    def target(self, index: int) -> Any:
        scene = self.scenes[index]
        if self.target_type == "semantic":
            return scene.semantic.astype(np.int64)
        if self.target_type == "localization":
            return int(scene.labels[0]) - 1, scene.boxes[0]
        return {"boxes": scene.boxes, "labels": scene.labels, "masks": scene.masks.astype(np.uint8)}

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image: Any = self.scenes[index].image[None]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.target(index)

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        shape = f"{len(self)} scenes, objects {self.objects}"
        return f"Scenes({self.source}, {split}, {shape}, target_type={self.target_type!r})"
