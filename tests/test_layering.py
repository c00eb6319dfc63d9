"""Layering of the packages, read statically from the source with ``ast`` (nothing is imported).

Data flows one way: ``glide`` (the model stack) <- ``bench`` (sweeps, metrics) <- ``human_eval``
(the rating app) <- ``reports``. So:

- ``glide`` imports nothing of ``bench``, ``human_eval`` or ``reports``;
- ``bench`` imports nothing of ``human_eval`` or ``reports``;
- ``human_eval`` imports nothing of ``reports``;
- within each package, no import cycle among its modules.

Every ``import`` / ``from ... import`` statement counts, at module level or inside a function
(an import deferred into a function is still a dependency, and a deferred import that closes a
cycle only hides it). A package's ``__init__`` importing one of its submodules is an edge like any
other. Imports under ``if TYPE_CHECKING:`` never run; they count for the layering rules (a type
hint may not reach up a layer either) but not as cycle edges. Running another module by name
(``runpy.run_module``, as the ``python -m bench.demo`` alias does) is not an import, and neither
is the implicit import of a parent package (``import a.b.c`` is an edge to ``a.b.c`` only).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("glide", "bench", "human_eval", "reports")

# package -> the packages it must not import (the layers above it)
FORBIDDEN = {
    "glide": ("bench", "human_eval", "reports"),
    "bench": ("human_eval", "reports"),
    "human_eval": ("reports",),
}


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (the most specific module the statement names)
    line: int
    type_checking: bool  # under ``if TYPE_CHECKING:``


# -- reading the source -----------------------------------------------------------------------


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root/<package>``."""
    out: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            if any(not p.isidentifier() for p in parts):
                continue  # not importable (e.g. a migrations folder named 0001_x)
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement anywhere in ``tree``, with whether it sits under TYPE_CHECKING."""

    def visit(node: ast.AST, guarded: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, guarded
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, True)
            for child in node.orelse:
                yield from visit(child, guarded)
            return
        for child in ast.iter_child_nodes(node):
            yield from visit(child, guarded)

    yield from visit(tree, False)


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the scanned packages."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _resolve_from(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute base of ``from <base> import ...`` written in ``module``."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    if node.level - 1 > len(package):
        raise ValueError(f"{path}:{node.lineno}: relative import goes above the top package")
    base = package[: len(package) - (node.level - 1)]
    if node.module:
        base = [*base, *node.module.split(".")]
    return ".".join(base)


def import_edges(modules: dict[str, Path]) -> list[Edge]:
    """Every static import between the scanned modules (imports of anything else are dropped).

    ``import a.b.c`` names ``a.b.c``; ``from a.b import c`` names the module ``a.b.c`` when it is
    one, else ``a.b`` (``c`` is then an attribute); relative forms are resolved first.
    """
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, guarded in _imports(tree):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [_known(alias.name, modules) for alias in node.names]
            else:
                base = _resolve_from(module, path, node)
                for alias in node.names:
                    full = f"{base}.{alias.name}" if base else alias.name
                    targets.append(full if full in modules else _known(base, modules))
            for target in targets:
                if target is not None and target != module:
                    edges.append(Edge(module, target, node.lineno, guarded))
    return edges


# -- graph ------------------------------------------------------------------------------------


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components with more than one node, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    nodes = sorted(set(graph) | {t for targets in graph.values() for t in targets})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return sorted(found)


def cycles_in(edges: Iterable[Edge], package: str) -> list[list[str]]:
    """Import cycles among the modules of ``package`` (TYPE_CHECKING imports left out)."""
    graph: dict[str, set[str]] = {}
    inside = (package, f"{package}.")
    for edge in edges:
        if edge.type_checking:
            continue
        if edge.source.startswith(inside) or edge.source == package:
            if edge.target == package or edge.target.startswith(f"{package}."):
                graph.setdefault(edge.source, set()).add(edge.target)
    return strongly_connected_components(graph)


def describe_cycle(component: list[str], edges: Iterable[Edge], modules: dict[str, Path]) -> str:
    members = set(component)
    lines = [" <-> ".join(component)]
    inside = {
        (e.source, e.line, e.target)
        for e in edges
        if e.source in members and e.target in members and not e.type_checking
    }
    for source, line, target in sorted(inside):
        lines.append(f"    {_shown(modules[source])}:{line}: {source} -> {target}")
    return "\n".join(lines)


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _top(module: str) -> str:
    return module.split(".", 1)[0]


# -- the project ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project() -> tuple[dict[str, Path], list[Edge]]:
    modules = module_files(ROOT, PACKAGES)
    return modules, import_edges(modules)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_reaches_up_a_layer(package, project) -> None:
    modules, edges = project
    bad = [
        f"{modules[e.source].relative_to(ROOT)}:{e.line}: {e.source} imports {e.target}"
        for e in edges
        if _top(e.source) == package and _top(e.target) in FORBIDDEN[package]
    ]
    assert not bad, f"{package} must not import {FORBIDDEN[package]}:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_within_package(package, project) -> None:
    modules, edges = project
    cycles = cycles_in(edges, package)
    assert not cycles, f"import cycles in {package}:\n" + "\n".join(
        describe_cycle(c, edges, modules) for c in cycles
    )


def test_the_scan_sees_the_packages(project) -> None:
    modules, edges = project
    for package in PACKAGES:
        assert package in modules, f"{package}/__init__.py not found under {ROOT}"
    assert "bench.metrics.registry" in modules
    # a known import of bench on glide is found, so an empty edge list cannot pass silently
    assert any(_top(e.source) == "bench" and _top(e.target) == "glide" for e in edges)


# -- self-test on a synthetic tree ------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_self_test_finds_cycles_of_every_import_form(tmp_path) -> None:
    _write(
        tmp_path,
        {
            "low/__init__.py": "from low import i\n",  # low -> i -> h -> low
            "low/a.py": "from . import b\n",  # relative, names a submodule
            "low/b.py": "def f():\n    from low.c import thing\n",  # function-level
            "low/c.py": "import low.a as a\n",  # closes a -> b -> c -> a
            "low/d.py": "from .sub import e\n",
            "low/sub/__init__.py": "from ..d import x\n",  # __init__ <-> d, via two dots
            "low/sub/e.py": "",
            "low/f.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import low.g\n",
            "low/g.py": "import low.f\n",  # only a TYPE_CHECKING edge back: not a cycle
            "low/h.py": "import low\n",
            "low/i.py": "from low import h\n",  # `from pkg import submodule`
            "high/__init__.py": "",
            "high/x.py": "import low.a\n",
        },
    )
    modules = module_files(tmp_path, ("low", "high"))
    edges = import_edges(modules)
    assert Edge("low.b", "low.c", 2, False) in edges
    assert Edge("low.sub", "low.d", 1, False) in edges
    assert Edge("low.d", "low.sub.e", 1, False) in edges
    assert Edge("low.f", "low.g", 3, True) in edges
    cycles = cycles_in(edges, "low")
    assert cycles == [
        ["low", "low.h", "low.i"],
        ["low.a", "low.b", "low.c"],
    ]
    # Importing low.sub.e runs low/sub/__init__ first, but that implicit import of a parent
    # package is not an edge (as in grimp / import-linter): only the statements' own targets.
    assert "low.d" not in {m for c in cycles for m in c}
    assert cycles_in(edges, "high") == []


def test_self_test_finds_a_cycle_through_a_package_init(tmp_path) -> None:
    _write(
        tmp_path,
        {
            "p/__init__.py": "from p.registry import REG\n",
            "p/registry.py": "def load():\n    import p.builtin\n",
            "p/builtin.py": "from p import REG\n",  # p.REG is an attribute: an edge to p
        },
    )
    modules = module_files(tmp_path, ("p",))
    assert cycles_in(import_edges(modules), "p") == [["p", "p.builtin", "p.registry"]]


def test_self_test_layering_and_scc() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"f"}}
    assert strongly_connected_components(graph) == [["a", "b", "c"], ["d", "e"]]
    assert strongly_connected_components({"a": {"b"}, "b": set()}) == []
