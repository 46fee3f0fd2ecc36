"""Optional dependencies, imported only when a feature needs them, with an error that says how to get them.

Core Ember needs NumPy alone. Interpolation (rotations, resized crops), image files (ImageFolder, PNG grids)
go through Pillow and SciPy, the ``vision`` extra: ``pip install 'ember[vision]'``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {"PIL": "vision", "scipy": "vision"}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` or explain which extra to install for ``feature``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, "vision")
        raise ImportError(
            f"{feature} needs {top}, which is not installed: pip install 'ember[{extra}]'"
        ) from error
