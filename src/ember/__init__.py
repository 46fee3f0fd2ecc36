"""Ember: a deep-learning framework for computer vision, from first principles, on NumPy.

PyTorch's names and semantics (``ember.tensor``, ``Tensor.backward()``, ``ember.no_grad()``), built so that
every piece can be read and checked: each operation is a ``Function`` with its forward and backward side by
side, verified against numerical gradients and against PyTorch.
"""

# First, before NumPy loads OpenBLAS (ember.threads) and before the first large array (ember.allocation).
from ember import allocation, threads

# isort: split
from ember import accelerator, autograd, backends, cuda, dtypes, ops
from ember.autograd import (
    Function,
    Size,
    Tensor,
    enable_grad,
    gradcheck,
    gradgradcheck,
    inference_mode,
    is_grad_enabled,
    is_tensor,
    no_grad,
    set_grad_enabled,
)
from ember.devices import DeviceUnavailableError, device, get_default_device, set_default_device
from ember.dtypes import (
    bool_,
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    uint8,
)
from ember.ops import *
from ember.random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from ember.serialization import load, save
from ember.threads import get_num_threads, set_num_threads

bool = bool_
float = float32
int = int32

__version__ = "0.1.0"

# As with torch.nn and torch.optim: the layers above the engine are there after `import ember`.
from ember import data, nn, optim, utils  # noqa: E402 - they import the engine above

# Loaded on first use (PEP 562): ``import ember`` stays light, and ``ember.classic``,
# ``ember.models``, ``ember.train`` and ``ember.cli`` work without importing them first.
_LAZY_SUBPACKAGES = ("classic", "cli", "models", "train")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"ember.{name}")
    if name == "summary":  # ember.summary(model, input_size): the model zoo's table of layers
        from ember.models.summary import summary

        return summary
    raise AttributeError(f"module 'ember' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_SUBPACKAGES, "summary"])
