"""The package's shape: packages by pipeline stage, no import cycles, public names that bind.

The import graph is read from the source with ``ast``: every ``import`` and ``from ...
import`` of our own modules, at module level or inside a function (a lazy import still
makes a cycle), except those under ``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import imr_llm

PACKAGE = Path(imr_llm.__file__).parent
MAX_MODULES_PER_PACKAGE = 12


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return skipped


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _targets(module: str, path: Path) -> set[str]:
    """Our modules that ``module`` imports (a ``from pkg import name`` may name a module)."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: _targets(module, path) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), plus self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_imports() -> None:
    # cli.bulk imports the runner inside a function; the graph must still see it.
    assert "imr_llm.bulk.runner" in GRAPH["imr_llm.cli.bulk"]
    assert "imr_llm.bulk.plan" in GRAPH["imr_llm.bulk.worker"]


def test_no_import_cycle_among_our_modules() -> None:
    # Package __init__ files are left out: importing a.b.c always runs a and a.b first,
    # which is Python's order, not a dependency of ours.
    graph = {
        m: {t for t in targets if MODULES[t].name != "__init__.py"}
        for m, targets in GRAPH.items()
        if MODULES[m].name != "__init__.py"
    }
    assert _cycles(graph) == []


def test_no_package_holds_more_than_a_dozen_modules() -> None:
    for folder in [PACKAGE, *(p for p in PACKAGE.iterdir() if (p / "__init__.py").exists())]:
        modules = [p for p in folder.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}]
        assert len(modules) <= MAX_MODULES_PER_PACKAGE, (folder.name, len(modules))


def test_no_module_is_named_after_a_public_name() -> None:
    # `from imr_llm import extract` must bind the function, never a submodule.
    top_level = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()
    }
    assert not top_level & set(imr_llm.__all__)


def _bind_in_fresh_interpreter(names: list[str]) -> dict[str, str]:
    code = (
        "import sys, types\n"
        f"from imr_llm import {', '.join(names)}\n"
        "for name in sys.argv[1:]:\n"
        "    obj = globals()[name]\n"
        "    kind = 'module' if isinstance(obj, types.ModuleType) else type(obj).__name__\n"
        "    print(name, kind, getattr(obj, '__module__', ''))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *names], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[0]: line for line in out.splitlines()}


@pytest.mark.parametrize(
    "order",
    [
        ["extract", "load_path", "make_client"],  # the README's own example
        ["make_client", "extract"],
        ["aextract", "extract", "extract_many"],
        sorted(imr_llm.__all__),
        sorted(imr_llm.__all__, reverse=True),
    ],
    ids=["readme", "client-first", "lazy-names", "all-sorted", "all-reversed"],
)
def test_every_public_name_binds_the_object_not_a_module(order: list[str]) -> None:
    bound = _bind_in_fresh_interpreter(order)
    assert sorted(bound) == sorted(order)
    for line in bound.values():
        assert " module " not in f"{line} ", line
    for name in {"extract", "aextract", "extract_many", "make_client"} & set(order):
        assert bound[name].split()[1] == "function", bound[name]


def test_the_readme_example_calls_extract() -> None:
    # In a fresh interpreter, as a user would: the function is callable on a letter.
    code = (
        "from imr_llm import extract, load_path, make_client\n"
        "from imr_llm.extraction.cache import NullCache\n"
        "row = extract('not a letter at all', client=None, cache=NullCache())\n"
        "print(row.status)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "not_imr"
