"""``import ember``: light, and every public subpackage reachable from it without a second import."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import ember

ROOT = Path(__file__).resolve().parents[1]
LAZY = ("classic", "cli", "models", "train")
HEAVY = ("torch", "matplotlib", "PIL", "yaml", "scipy", "numba", "safetensors", "tqdm", "sklearn")


def fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter (nothing imported yet) and return what it printed."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_ember_loads_no_optional_layer_and_no_heavy_dependency():
    code = (
        "import json, sys, ember\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r} or m in {tuple('ember.' + name for name in LAZY)!r})))"
    )
    assert json.loads(fresh_python(code)) == []


def test_every_public_subpackage_is_reachable_after_import_ember():
    code = (
        "import ember\n"
        "print(ember.classic.KNearestNeighbors.__name__, ember.models.resnet20.__name__,\n"
        "      ember.train.Trainer.__name__, ember.cli.main.__name__, ember.summary.__name__,\n"
        "      ember.nn.Linear.__name__, ember.optim.SGD.__name__, ember.data.DataLoader.__name__)"
    )
    assert fresh_python(code).split() == [
        "KNearestNeighbors",
        "resnet20",
        "Trainer",
        "main",
        "summary",
        "Linear",
        "SGD",
        "DataLoader",
    ]


def test_dir_lists_the_lazy_subpackages_and_unknown_names_still_fail():
    assert set(LAZY) <= set(dir(ember))
    try:
        ember.clasic  # noqa: B018
    except AttributeError as error:
        assert "has no attribute 'clasic'" in str(error)
    else:
        raise AssertionError("ember.clasic should not exist")


def test_the_version_has_one_source():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ember.__version__"}
