"""``ember.backends``: PyTorch's backend switches that scripts touch (``mps``, ``cudnn``), answered for a
CPU-only framework: no MPS, no cuDNN, and the cuDNN flags accepted (they change nothing here)."""

from ember.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
