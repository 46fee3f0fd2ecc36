"""``ember.backends.cudnn``: no cuDNN; the flags scripts set (``benchmark``, ``deterministic``) are kept
and change nothing (Ember's CPU kernels are deterministic)."""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version() -> None:
    return None
