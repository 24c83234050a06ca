"""The package's import graph, read with ast (nothing is imported): no import cycles, and
inference never imports training code.

Every ``import`` / ``from ... import`` of a talkface module counts, also one inside a
function (it runs when the function does), except those under ``if TYPE_CHECKING:``. An
edge goes to the module a statement names: ``from .face import detect`` to
``talkface.face.detect``, ``from .face.detect import Face`` to ``talkface.face.detect``.
The package ``__init__`` a submodule import runs as well is not counted (a package that
imports its own submodules would otherwise always close a cycle).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "talkface"


def _modules() -> dict[str, tuple[Path, bool]]:
    """module name -> (file, is a package)"""
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = list(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if pkg else parts)] = (p, pkg)
    return out


MODULES = _modules()


def _type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _statements(nodes, module_level: bool):
    """The import statements among ``nodes``, at any depth: with ``module_level`` only those
    that run on import (also under ``if`` / ``try`` / ``with`` and in class bodies, not in
    functions); those under ``if TYPE_CHECKING:`` never."""
    for node in nodes:
        if _type_checking(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not (module_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))):
            yield from _statements(ast.iter_child_nodes(node), module_level)


def _targets(module: str, is_pkg: bool, node) -> set[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        return {n for n in names if n in MODULES}
    if node.level:
        base = module.split(".") if is_pkg else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    out = set()
    for a in node.names:
        full = f"{prefix}.{a.name}"
        out.add(full if full in MODULES else prefix)
    return {m for m in out if m in MODULES}


def import_graph(module_level: bool) -> dict[str, set[str]]:
    graph = {}
    for name, (path, is_pkg) in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        deps: set[str] = set()
        for node in _statements(tree.body, module_level):
            deps |= _targets(name, is_pkg, node)
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path(graph, comp: list[str]) -> str:
    """One cycle through the first module of ``comp``, for the failure message."""
    start = comp[0]
    members = set(comp)
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return " -> ".join(reversed([start] + path))
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return " <-> ".join(comp)


@pytest.mark.parametrize("module_level", [True, False], ids=["module-level", "any-import"])
def test_no_import_cycles(module_level):
    graph = import_graph(module_level)
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(_path(graph, c) for c in found)


def test_the_cycle_finder_finds_one():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    assert _path(g, ["a", "b", "c"]) == "a -> b -> c -> a"


def test_every_import_of_the_package_names_a_module_that_is_there():
    """A module moved or renamed leaves no import of its old path behind (also inside a
    function, where only running it would tell): ``from .x import y`` needs module ``x``,
    ``from . import y`` a module or package ``y`` or a name of the package."""
    missing = []
    for name, (path, is_pkg) in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                missing += [f"{name}:{node.lineno} import {a.name}" for a in node.names
                            if a.name.startswith("talkface.") and a.name not in MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("talkface")):
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                prefix = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else [])) \
                    if node.level else node.module
                if prefix not in MODULES:
                    missing.append(f"{name}:{node.lineno} from {prefix} import ...")
    assert not missing, missing


def test_inference_never_imports_training_code():
    """Nothing outside ``talkface.train`` imports it, but the ``talkface train`` / ``data``
    commands (``talkface.cli.train``), even inside a function."""
    graph = import_graph(module_level=False)
    training = {m for m in MODULES if m == "talkface.train" or m.startswith("talkface.train.")}
    allowed = training | {"talkface.cli.train"}
    bad = sorted(f"{m} imports {', '.join(sorted(graph[m] & training))}" for m in MODULES
                 if m not in allowed and graph[m] & training)
    assert not bad, bad
