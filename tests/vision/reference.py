"""torchvision 0.28's pure-Python box operations, loaded without torchvision's compiled extension.

``import torchvision`` fails here (its C++ operators do not load against this torch build), so the two files
that hold the box operations are loaded on their own, each as a module, with stand-ins for what they import
from the rest of the package (API-usage logging, the extension check, the loss functions BoxCoder's module
names but does not use). ``nms`` needs the compiled kernel and is checked by hand cases and a brute force.
Returns None if torch or torchvision is not installed.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

STUBS = ("torchvision", "torchvision.extension", "torchvision.utils", "torchvision.ops")


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def torchvision_box_ops() -> tuple[Any, Any] | None:
    """(torchvision.ops.boxes, torchvision.models.detection._utils) as modules, or None."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    saved = {
        name: sys.modules.get(name) for name in (*STUBS, "torchvision.ops.boxes", "torchvision.ops._utils")
    }
    saved |= {name: sys.modules.get(name) for name in ("torchvision.ops._box_convert", "tv_detection_utils")}
    try:
        package = types.ModuleType("torchvision")
        package.__path__ = [str(root)]  # type: ignore[attr-defined]
        package._is_tracing = lambda: False  # type: ignore[attr-defined]
        extension = types.ModuleType("torchvision.extension")
        extension._assert_has_ops = lambda: None  # type: ignore[attr-defined]
        utils = types.ModuleType("torchvision.utils")
        utils._log_api_usage_once = lambda _: None  # type: ignore[attr-defined]
        ops = types.ModuleType("torchvision.ops")
        ops.__path__ = [str(root / "ops")]  # type: ignore[attr-defined]
        for name in (
            "complete_box_iou_loss",
            "distance_box_iou_loss",
            "FrozenBatchNorm2d",
            "generalized_box_iou_loss",
        ):
            setattr(ops, name, None)
        for module in (package, extension, utils, ops):
            sys.modules[module.__name__] = module
        boxes = _load("torchvision.ops.boxes", root / "ops" / "boxes.py")
        detection = _load("tv_detection_utils", root / "models" / "detection" / "_utils.py")
        return boxes, detection
    except Exception:  # a torchvision of another layout: the hand cases still run
        return None
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
