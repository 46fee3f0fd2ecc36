"""``ember.vision.datasets``: data sets for the tasks beyond classification."""

from ember.vision.datasets.scenes import Scenes

__all__ = ["Scenes"]
