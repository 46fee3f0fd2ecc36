"""``ember.vision``: torchvision's place. ``datasets``, ``transforms``, ``utils`` (``make_grid``,
``save_image``) and ``models`` (builders with the weights API) under torchvision's names."""

from ember.vision import datasets, models, transforms, utils

__all__ = ["datasets", "models", "transforms", "utils"]
