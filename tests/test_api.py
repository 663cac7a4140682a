"""The public surface: one door, a sorted and honest ``__all__``, and clean layering."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import imr_llm

PACKAGE = Path(imr_llm.__file__).parent
LLM_STACK = {"openai", "instructor", "httpx", "tenacity", "jinja2"}


def test_importing_the_package_does_not_load_the_llm_stack() -> None:
    code = "import sys, imr_llm, imr_llm.cli.app; print(sorted(m for m in %r if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code % sorted(LLM_STACK)], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# Deterministic code: whole packages, plus the contract and the label reader.
PURE_PACKAGES = ("letters", "anchors", "treatment")
PURE_MODULES = ("models.py", "errors.py", "checking/labels.py")


def _pure_files() -> list[Path]:
    files = [PACKAGE / name for name in PURE_MODULES]
    for package in PURE_PACKAGES:
        files += sorted((PACKAGE / package).glob("*.py"))
    return files


def test_all_is_sorted_and_exported() -> None:
    assert imr_llm.__all__ == sorted(imr_llm.__all__)
    for name in imr_llm.__all__:
        assert hasattr(imr_llm, name), name


def test_all_lists_every_public_name_imported_in_init() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported | set(imr_llm._LAZY) == set(imr_llm.__all__)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_deterministic_modules_never_import_the_llm_stack() -> None:
    files = _pure_files()
    assert len(files) > 15
    for path in files:
        assert not (_imports(path) & LLM_STACK), path
