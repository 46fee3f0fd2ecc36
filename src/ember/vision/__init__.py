"""``ember.vision``: tasks beyond classification (torchvision's place): the scenes data set, box operations,
semantic segmentation and localization. See ``docs/vision.md``."""

from ember.vision import datasets, localization, ops, segmentation

__all__ = ["datasets", "localization", "ops", "segmentation"]
