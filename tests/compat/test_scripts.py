"""The compatibility suite: PyTorch-style scripts run twice, on PyTorch and on Ember with only the imports
changed (``ember_imports``), and must print the same lines, numbers equal within float32 tolerance.

Each script in ``scripts/`` is written as a PyTorch user writes one (the tutorials' and examples' idioms:
the device choice, ``torch.save``, ``param.data`` updates, ``DataLoader``...). Scripts are deterministic so
the numbers can be compared: weights start from a formula instead of a random draw (the two libraries'
generators differ), and data loaders do not shuffle. A script runs in-process, in a fresh namespace, in a
temporary working directory (``torch.save`` writes there).
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = sorted((Path(__file__).parent / "scripts").glob("*.py"))
MNIST_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"
if not MNIST_DIR.is_dir():  # a worktree sits elsewhere; CI clones beside shared/
    MNIST_DIR = Path("/work/shared/data/mnist")

# The import mapping of the issue: torch -> ember, torchvision's modules -> ember.vision's.
IMPORTS = [
    (r"^import torch\.(\S+) as (\w+)$", r"import ember.\1 as \2"),
    (r"^import torch$", "import ember as torch"),
    (r"^from torch\.utils\.data import ", "from ember.utils.data import "),
    (r"^from torch\.(\S+) import ", r"from ember.\1 import "),
    (r"^from torch import ", "from ember import "),
    (r"^from torchvision import ", "from ember.vision import "),
    (r"^from torchvision\.(\S+) import ", r"from ember.vision.\1 import "),
]
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf")


def ember_imports(source: str) -> str:
    """``source`` with its import lines mapped to Ember's (nothing else changes)."""
    lines = []
    for line in source.splitlines():
        for pattern, replacement in IMPORTS:
            if line.startswith(("import torch", "from torch")):
                line = re.sub(pattern, replacement, line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def run(source: str, name: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The lines the script prints (run in ``workdir``, with ``MNIST_DIR`` in its environment)."""
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MNIST_DIR", str(MNIST_DIR))
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(source, name, "exec"), {"__name__": "__main__"})
    return output.getvalue().splitlines()


def _text(line: str) -> str:
    """The words of a line, numbers and spacing aside (a tensor's repr pads its columns differently)."""
    return re.sub(r"\s+", "", NUMBER.sub("#", line))


def assert_same_output(ember_lines: list[str], torch_lines: list[str], rtol: float, atol: float) -> None:
    """Line by line: the same words around the numbers (``ember`` read as ``torch``), numbers close."""
    assert len(ember_lines) == len(torch_lines), (ember_lines, torch_lines)
    for ours, theirs in zip(ember_lines, torch_lines, strict=True):
        ours = ours.replace("ember", "torch")
        assert _text(ours) == _text(theirs), f"ember: {ours!r}\ntorch: {theirs!r}"
        a = np.array([float(n) for n in NUMBER.findall(ours)])
        b = np.array([float(n) for n in NUMBER.findall(theirs)])
        assert np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True), f"ember: {ours!r}\ntorch: {theirs!r}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_the_script_gives_pytorchs_numbers_on_ember(script, tmp_path, monkeypatch):
    source = script.read_text()
    if "MNIST_DIR" in source and not MNIST_DIR.is_dir():
        pytest.skip(f"no MNIST files in {MNIST_DIR}")
    (tmp_path / "torch").mkdir()
    (tmp_path / "ember").mkdir()
    torch_lines = run(source, script.name, tmp_path / "torch", monkeypatch)
    ember_source = ember_imports(source)
    assert not re.search(r"^(import|from) torch", ember_source, re.MULTILINE), "an import left unmapped"
    ember_lines = run(ember_source, script.name, tmp_path / "ember", monkeypatch)
    assert ember_lines, "the script printed nothing"
    assert_same_output(ember_lines, torch_lines, rtol=1e-4, atol=1e-5)


def test_the_import_mapping_changes_only_imports():
    source = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\nx = torch.ones(1)\n"
    assert ember_imports(source) == (
        "import ember as torch\nimport ember.nn.functional as F\nfrom ember import nn\nx = torch.ones(1)\n"
    )
    assert (
        ember_imports("from torch.utils.data import DataLoader\n")
        == "from ember.utils.data import DataLoader\n"
    )
    assert ember_imports("from torchvision import datasets\n") == "from ember.vision import datasets\n"


def test_different_numbers_fail_the_comparison():
    with pytest.raises(AssertionError):
        assert_same_output(["loss 0.5000"], ["loss 0.5100"], rtol=1e-4, atol=1e-5)
    with pytest.raises(AssertionError):
        assert_same_output(["torch.float32"], ["torch.int64"], rtol=1e-4, atol=1e-5)
    assert_same_output(["ember.Size([2, 3]) 0.3333334"], ["torch.Size([2, 3]) 0.3333333"], 1e-4, 1e-5)
