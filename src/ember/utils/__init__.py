"""``ember.utils``: PyTorch's ``torch.utils`` path for the data pipeline (``ember.utils.data``)."""

from ember.utils import data

__all__ = ["data"]
