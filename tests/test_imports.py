"""The import picture of src/ember: no cycles, and every layer imports only the layers below it.

``python -m pytest tests/test_imports.py`` checks it; ``python tests/test_imports.py`` prints the layers and
any edge that breaks the rules. The graph is read from the source (``ast``), not by importing: one edge for
every ``import`` statement anywhere in a file (module level, inside functions, under ``if TYPE_CHECKING``:
each is a dependency a reader must follow), to the module it names (``from a.b import c`` names the module
``a.b.c`` if there is one, else ``a.b``). A package's ``__init__.py`` is a module like the others; that
importing ``a.b.c`` also runs ``a/__init__.py`` and ``a/b/__init__.py`` is not an edge (else every module
would depend on ``ember/__init__.py``, which imports the public API).

The layers, from the bottom (DESIGN.md section 1): the helpers every layer may use (dtypes, random,
errors, atomic, registry, and the CPU-only devices: devices, cuda, backends, accelerator), the engine
(``ember.autograd``), ops and serialization, nn, optim, data and distributed, models, classic, onnx and
utils (``torch.utils.data``'s address for ``ember.data``), ``ember/__init__.py`` (the public API:
``import ember``) and beside it vision (torchvision's place: it builds on the zoo, and ``import ember``
does not import it), viz (pictures and pages), train, cli.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src"

LAYERS = [  # bottom first; a module may import its own layer and the layers before it
    ("helpers", ("ember.dtypes", "ember.random", "ember.errors", "ember.atomic", "ember.registry")),
    ("helpers", ("ember.devices", "ember.cuda", "ember.backends", "ember.accelerator", "ember.threads")),
    ("helpers", ("ember.allocation",)),
    ("helpers", ("ember.compiled",)),
    ("engine", ("ember.autograd",)),
    ("ops", ("ember.ops",)),
    ("serialization", ("ember.serialization",)),
    ("nn", ("ember.nn",)),
    ("optim", ("ember.optim",)),
    ("data", ("ember.data",)),
    ("distributed", ("ember.distributed",)),
    ("models", ("ember.models",)),
    ("onnx", ("ember.onnx",)),
    ("classic", ("ember.classic",)),
    ("utils", ("ember.utils",)),
    ("ember", ()),  # ember/__init__.py alone
    ("vision", ("ember.vision",)),
    ("viz", ("ember.viz",)),
    ("train", ("ember.train",)),
    ("cli", ("ember.cli",)),
]
# Layers side by side: neither imports the other.
LEVEL = {"helpers": 0, "engine": 1, "ops": 2, "serialization": 2, "nn": 3, "optim": 4, "data": 4}
LEVEL |= {"distributed": 4, "models": 5, "classic": 5, "onnx": 5, "utils": 5}
LEVEL |= {"ember": 6, "vision": 6, "viz": 7, "train": 8, "cli": 9}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((SOURCE / "ember").rglob("*.py"))}


def imported(path: Path, name: str, known: dict[str, Path]) -> Iterator[str]:
    """The modules of ``known`` that the file at ``path`` (module ``name``) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            submodules = (f"{base}.{alias.name}" for alias in node.names)
            targets = [module if module in known else base for module in submodules]
        else:
            continue
        yield from (target for target in targets if target in known)


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(path, name, known)) - {name} for name, path in known.items()}


def layer_of(module: str) -> str:
    """The layer of a module ("" if none: a new package must be placed in LAYERS)."""
    if module == "ember":
        return "ember"
    for layer, prefixes in LAYERS:
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return layer
    return ""


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def upward_edges(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a layer above, or of a different layer at the same level."""
    wrong = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = layer_of(source), layer_of(target)
            if a != b and LEVEL[b] >= LEVEL[a]:
                wrong.append(f"{source} ({a}) imports {target} ({b})")
    return wrong


def test_every_module_belongs_to_a_layer():
    assert [name for name in modules() if layer_of(name) not in LEVEL] == []


def test_the_engine_and_the_operations_import_without_cycles():
    graph = import_graph()
    low = {name for name in graph if LEVEL[layer_of(name)] <= LEVEL["ops"]}
    assert cycles({name: graph[name] & low for name in low}) == []


def test_no_cycle_anywhere():
    """Not even within a layer: the model registry does not import its package, the callbacks do not
    import the Trainer, the doctor does not import the run that uses its range test."""
    assert cycles(import_graph()) == []


def test_the_engine_imports_nothing_above_it():
    graph = import_graph()
    for name, targets in graph.items():
        if layer_of(name) == "engine":
            assert {layer_of(target) for target in targets} <= {"helpers", "engine"}, name


def test_layers_import_only_downward():
    assert upward_edges(import_graph()) == []


def test_the_walk_sees_function_level_and_type_checking_imports(tmp_path, monkeypatch):
    package = tmp_path / "ember"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ember.b import B\n"
    )
    (package / "b.py").write_text("def f():\n    from ember import a\n")
    monkeypatch.setattr(sys.modules[__name__], "SOURCE", tmp_path)
    assert cycles(import_graph()) == [["ember.a", "ember.b"]]


if __name__ == "__main__":
    graph = import_graph()
    for layer, _ in LAYERS:
        members = sorted(name for name in graph if layer_of(name) == layer)
        print(f"{LEVEL[layer]} {layer:8} {len(members):3} modules")
    for component in cycles(graph):
        print("cycle:", " <-> ".join(component))
    for edge in upward_edges(graph):
        print("upward:", edge)
