"""``ember.vision``: tasks beyond classification (torchvision's place): the scenes data set, box operations,
semantic segmentation and localization. See ``docs/vision.md``."""

from ember.vision import datasets, ops

__all__ = ["datasets", "ops"]
