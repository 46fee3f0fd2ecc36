"""Every page's code runs as written: the ```python blocks of README.md and docs/*.md, page by page.

A reader runs a page's blocks one after the other, so each page's blocks run in order in one namespace, in
a fresh working directory, with ``$EMBER_DATA`` naming the shared data sets (MNIST in ``mnist/``, found the
way the data tests find it; Fashion-MNIST comes from Debian's package). Tracebacks give the page and the
line in it.

Every fenced block says what it is: ```python is run; ```sh (commands), ```console (a command and its
output), ```text (output, file layouts), ```yaml, ```toml are not. A bare fence fails the test, so no
Python escapes it unmarked. A ```python block right after ``<!-- docs-test: skip REASON -->`` is not run;
keep those rare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.data.conftest import MNIST_DIR

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_PYTHON = {"sh", "console", "text", "yaml", "toml", "json"}
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(.*?)-->")


@dataclass
class Block:
    page: str
    line: int  # the first line of code, 1-based
    language: str
    code: str
    skip: str | None  # the reason, for a block marked not to be run


def blocks(text: str, page: str) -> list[Block]:
    """The fenced blocks of a Markdown page (top-level fences, three backticks)."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"```(\S*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{page}:{i + 1}: a code block that is never closed")
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP.search(before)
        skip = (marker.group(1).strip() or "no reason given") if marker else None
        found.append(Block(page, start + 1, opening.group(1), "\n".join(lines[start:end]), skip))
        i = end + 1
    return found


def run_page(text: str, page: str) -> int:
    """Check the page's fences and run its Python blocks in order in one namespace; the number run."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    run = 0
    for block in blocks(text, page):
        if block.language not in NOT_PYTHON | {"python"}:
            raise AssertionError(
                f"{page}:{block.line - 1}: a code block must say what it is: ```python (it is run) or one of "
                f"{', '.join(sorted(NOT_PYTHON))}; got {block.language or 'a bare fence'!r}"
            )
        if block.language != "python" or block.skip is not None:
            continue
        # Padding with empty lines makes a traceback's line numbers the page's own.
        code = compile("\n" * (block.line - 1) + block.code, page, "exec")
        exec(code, namespace)
        run += 1
    return run


@pytest.fixture
def reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader's fresh folder, with the data sets where ``$EMBER_DATA`` says and no plotting window."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBER_DATA", str(MNIST_DIR.parent))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_python_block_of_the_page_runs(path: Path, reader: None) -> None:
    run_page(path.read_text(), str(path.relative_to(ROOT)))


def test_the_readme_and_the_guides_have_code_to_run() -> None:
    pages = {path.name: path.read_text() for path in PAGES}
    for name in ("README.md", "training.md", "extending.md", "nn.md"):
        assert any(b.language == "python" and b.skip is None for b in blocks(pages[name], name)), name


def test_a_broken_block_fails_with_its_page_and_line() -> None:
    page = "# Title\n\n```python\nx = 1\n```\n\ntext\n\n```python\ny = x + undefined_name\n```\n"
    with pytest.raises(NameError) as caught:
        run_page(page, "docs/broken.md")
    frame = caught.traceback[-1]
    assert (Path(str(frame.path)).name, frame.lineno + 1) == ("broken.md", 10)


def test_blocks_share_one_namespace_in_page_order() -> None:
    page = "```python\nx = 2\n```\n\n```python\nassert x == 2\nx = 3\n```\n\n```python\nassert x == 3\n```\n"
    assert run_page(page, "page.md") == 3


def test_a_bare_fence_fails_and_marked_blocks_are_not_run() -> None:
    with pytest.raises(AssertionError, match=r"page.md:1: a code block must say what it is"):
        run_page("```\nember train\n```\n", "page.md")
    marked = "```sh\nember train\n```\n<!-- docs-test: skip needs a GPU -->\n```python\nraise SystemExit\n```"
    assert run_page(marked, "page.md") == 0
    assert [b.skip for b in blocks(marked, "page.md")] == [None, "needs a GPU"]


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in script and "<!-- test-command -->" in (ROOT / "README.md").read_text()
