"""``ember.vision``: torchvision's place. ``datasets``, ``transforms``, ``utils`` (``make_grid``,
``save_image``) and ``models`` (builders with the weights API) under torchvision's names, and the tasks
beyond classification: the scenes data set, box operations, semantic segmentation and localization. See
``docs/vision.md``."""

from ember.vision import datasets, detection, localization, models, ops, segmentation, transforms, utils

__all__ = ["datasets", "detection", "localization", "models", "ops", "segmentation", "transforms", "utils"]
