"""The package's import graph keeps the layout's promises.

* Product code never imports :mod:`emulator.testing` (the pytest plugin and its helpers exist to test
  host code; the lab, replay, the URL handler and the CLI must work in an install without them).
* No two modules import each other, directly or through others: a cycle means two pieces have no
  clear owner. Imports inside functions count too (a lazy import is still a dependency).

The graph is read from the source with :mod:`ast` (nothing is imported), like the sans-I/O ban in
tests/core/test_core_is_sans_io.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import emulator

ROOT = Path(emulator.__file__).parent
TESTING = "emulator.testing"


def _module_name(path: Path) -> str:
    parts = ["emulator", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The emulator modules ``name`` imports.

    ``from pkg import sub`` is an edge to the submodule only: a submodule importing its sibling through
    the package is not a cycle with the package's ``__init__``, which Python imports first anyway.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            # ``from pkg import sub`` depends on the submodule; ``from mod import name`` on the module
            subs = [f"{stem}.{a.name}" for a in node.names if f"{stem}.{a.name}" in known]
            targets = subs + ([stem] if len(subs) < len(node.names) else [])
        else:
            continue
        for target in targets:
            if target in known and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
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


def test_product_code_never_imports_the_testing_package() -> None:
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if not name.startswith(TESTING)
        for target in targets
        if target == TESTING or target.startswith(TESTING + ".")
    )
    assert offenders == []


def test_no_import_cycles() -> None:
    # emulator/__init__.py imports its public API lazily, by name (PEP 562): no edges from it.
    assert _cycles(_graph()) == []


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    """Negative control: the reader finds the edges the rules are about, or the tests above prove nothing."""
    graph = _graph()
    assert "emulator.runtime.running" in graph["emulator.pyserial_urls.protocol_nl668"]  # inside a function
    assert "emulator.tls.legacy" in graph["emulator.tls.engine"]  # lazy, relative
    assert "emulator.runtime.running" in graph["emulator.testing.pytest_plugin"]


@pytest.mark.parametrize(
    "graph, cycle",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_cycle_finder(graph: dict[str, set[str]], cycle: list[list[str]]) -> None:
    assert _cycles(graph) == cycle
