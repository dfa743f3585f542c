"""The import graph of the package: layers only point down, and no two files import each other.

Every ``.py`` of the package is read with ``ast`` (not imported), so imports inside functions count
as much as those at the top: a lazy import still ties the two modules together. Relative imports are
resolved against the importing module's package.

Layers, bottom first: facts <- kernels <- backends <- harness <- reports, and ``harness/cli.py`` (the
application's top, which wires the report to the run) above them all. A module may import its own
layer or any below it; ``pytest -s tests/test_layers.py`` prints the layers and the number of edges.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "accelbench"
LAYERS = ("facts", "kernels", "backends", "harness", "reports")
TOP = "accelbench.harness.cli"
"""The one module allowed to import upward: the CLI runs and then reports."""


def module_files() -> dict[str, Path]:
    """Module name -> file, for the package root and every layer folder."""
    files = {PACKAGE: ROOT / "__init__.py"}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def _imported_names(module: str, path: Path, files: dict[str, Path]) -> list[str]:
    """Every dotted name ``module`` imports, anywhere in the file, relative imports resolved:
    ``from pkg import mod`` names the module pkg.mod, ``from mod import name`` the module mod."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names += [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
    return names


def import_edges(files: dict[str, Path]) -> set[tuple[str, str]]:
    """(importer, imported) between modules of the package, each name mapped to the module that holds it."""
    edges = set()
    for module, path in files.items():
        for name in _imported_names(module, path, files):
            if name != PACKAGE and not name.startswith(PACKAGE + "."):
                continue
            while name and name not in files:  # accelbench.facts.catalog.load_devices -> accelbench.facts.catalog
                name = name.rpartition(".")[0]
            if name and name != module:
                edges.add((module, name))
    return edges


def _packages(files: dict[str, Path]) -> set[str]:
    return {m for m, p in files.items() if p.name == "__init__.py"}


def layer_rank(module: str) -> int:
    if module == TOP:
        return len(LAYERS)
    if module == PACKAGE:
        return 0  # the root __init__ reads the installed version only
    return LAYERS.index(module.split(".")[1])


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    graph: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(edges):
        graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted({n for e in edges for n in e}):
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
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
                    work.append((child, iter(graph[child])))
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


def subpackage_edges(edges: set[tuple[str, str]], files: dict[str, Path]) -> set[tuple[str, str]]:
    """The same graph with each nested subpackage (e.g. harness.launch) as one node: a module that
    imports a launcher, imported by a launcher, is a cycle even when no two files meet directly."""
    nested = sorted((p for p in _packages(files) if p.count(".") >= 2), key=len, reverse=True)

    def node(module: str) -> str:
        return next((p for p in nested if module == p or module.startswith(p + ".")), module)

    return {(node(a), node(b)) for a, b in edges if node(a) != node(b)}


def test_layers_only_point_down_and_no_file_imports_itself_back():
    files = module_files()
    edges = import_edges(files)
    upward = sorted(f"{a} -> {b}" for a, b in edges if layer_rank(b) > layer_rank(a))
    file_cycles = cycles(edges)
    package_cycles = cycles(subpackage_edges(edges, files))
    print(f"\nlayers, bottom first: {' <- '.join(LAYERS)} <- {TOP.removeprefix(PACKAGE + '.')} (the top)")
    for rank, layer in enumerate(LAYERS):
        inside = sum(1 for m in files if m != PACKAGE and layer_rank(m) == rank)
        down = sum(1 for a, b in edges if layer_rank(a) == rank and layer_rank(b) < rank)
        print(f"  {layer:9} {inside:3} modules, {down:3} edges to layers below")
    print(f"{len(files)} modules, {len(edges)} import edges; upward: {len(upward)}; "
          f"file cycles: {len(file_cycles)}; subpackage cycles: {len(package_cycles)}")
    assert not upward, "imports of a layer above:\n" + "\n".join(upward)
    assert not file_cycles, f"files importing each other: {file_cycles}"
    assert not package_cycles, f"subpackages importing each other: {package_cycles}"


def test_the_walker_sees_lazy_relative_and_from_package_imports(tmp_path, monkeypatch):
    """The checker itself: a lazy upward import and a relative cycle are both caught."""
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").write_text("")
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "kernels" / "a.py").write_text("def f():\n    from accelbench.harness import runner\n")
    (tmp_path / "harness" / "runner.py").write_text("from . import other\n")
    (tmp_path / "harness" / "other.py").write_text("from .runner import x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    files = module_files()
    edges = import_edges(files)
    assert ("accelbench.kernels.a", "accelbench.harness.runner") in edges
    assert [a for a, b in edges if layer_rank(b) > layer_rank(a)] == ["accelbench.kernels.a"]
    assert cycles(edges) == [["accelbench.harness.other", "accelbench.harness.runner"]]
