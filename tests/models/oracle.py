"""The oracle for the zoo: torchvision's own models (torchvision 0.28.0 beside the CPU build of torch 2.13.0).

torchvision's wheel is built against the CUDA build of torch, so its C++ extension (NMS, RoI align, ...)
cannot load beside the CPU build, and importing the package fails while registering fake kernels for
``torchvision::nms`` ("operator torchvision::nms does not exist"). The models need none of those
operators: defining the two schemas that the import touches lets it finish (``import_torchvision``).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
import torch

import ember

torch.set_num_threads(1)  # the suite runs on 2 cores with 2 workers
_library: list[Any] = []  # keeps the schema definitions alive


def import_torchvision() -> Any:
    """torchvision, or a skip if it is not installed."""
    try:
        import torchvision
    except ImportError:
        pytest.skip("torchvision is not installed (pip install torchvision==0.28.0)")
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        library = torch.library.Library("torchvision", "DEF")
        library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _library.append(library)
        import torchvision
    return torchvision


def torchvision_model(
    name: str, num_classes: int = 1000, meta: bool = False, **options: Any
) -> torch.nn.Module:
    """torchvision's ``name`` with random weights (on the meta device: shapes only, no memory)."""
    models = import_torchvision().models
    if name == "googlenet":
        options.setdefault("init_weights", True)  # torchvision warns without an explicit choice
    if meta:
        with torch.device("meta"):
            return models.get_model(name, weights=None, num_classes=num_classes, **options)
    return models.get_model(name, weights=None, num_classes=num_classes, **options)


def num_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def state_arrays(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {key: value.detach().numpy() for key, value in model.state_dict().items()}


def logits(model: Any, x: np.ndarray) -> np.ndarray:
    """Eval-mode logits of an Ember or a torch model on the same NumPy input."""
    model.eval()
    if isinstance(model, torch.nn.Module):
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()
    with ember.no_grad():
        return model(ember.tensor(x)).numpy()
