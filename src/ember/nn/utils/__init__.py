"""Utilities for training networks (gradient clipping lives here, as ``torch.nn.utils``)."""
