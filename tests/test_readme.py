"""The README's commands are the ones CI runs, and its code examples run."""

from __future__ import annotations

import re
from pathlib import Path

import ember

ROOT = Path(__file__).resolve().parents[1]


def test_readme_code_examples_run():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "the README shows the engine with Python examples"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"ember": ember})


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in script and "<!-- test-command -->" in (ROOT / "README.md").read_text()
