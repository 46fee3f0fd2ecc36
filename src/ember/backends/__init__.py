"""``ember.backends``: PyTorch's backend switches that scripts touch (``mps``, ``cudnn``, ``mkldnn``),
answered for a CPU-only framework: no MPS, no cuDNN (its flags accepted, they change nothing here), and
``mkldnn`` for the optional oneDNN convolutions."""

from ember.backends import cudnn, mkldnn, mps

__all__ = ["cudnn", "mkldnn", "mps"]
