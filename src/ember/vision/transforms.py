"""``ember.vision.transforms``: ``torchvision.transforms``' names, the transforms of ``ember.data.transforms``
(the same classes: ``transforms.Compose([transforms.ToTensor(), transforms.Normalize(...)])``)."""

from ember.data import transforms as _transforms
from ember.data.transforms import *  # noqa: F403 - every name, kept in step by the source's own __all__

__all__ = list(_transforms.__all__)
