"""pyproject.toml: mypy analyzes exactly the Azure SDK subpackages that the code imports."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

from tests.synthesis import PROJECT_DIR

SDK = "pulumi_azure_native"
# The project's own code only: not the venvs (.venv, and Checkov's own .venv-checkov) or caches.
SKIPPED_DIRS = {".venv", ".venv-checkov", "build", ".git", ".mypy_cache"}


def python_files() -> Iterator[Path]:
    for path in PROJECT_DIR.rglob("*.py"):
        if not SKIPPED_DIRS & set(path.relative_to(PROJECT_DIR).parts):
            yield path


def sdk_imports(path: Path) -> Iterator[tuple[str, int]]:
    """(module, line) for every import of the SDK or one of its subpackages."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == SDK:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == SDK:
                yield from ((f"{SDK}.{alias.name}", node.lineno) for alias in node.names)
            elif node.module.split(".")[0] == SDK:
                yield node.module, node.lineno


def analyzed_subpackages() -> set[str]:
    config = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    overrides = config["tool"]["mypy"]["overrides"]
    normal = {
        module.removesuffix(".*")
        for override in overrides
        if override.get("follow_imports") == "normal"
        for module in override["module"]
    }
    return {module.split(".")[1] for module in normal if module.count(".") == 1} - {"_utilities"}


def test_every_imported_azure_subpackage_is_type_checked_and_no_other() -> None:
    imported: dict[str, list[str]] = {}
    for path in python_files():
        for module, line in sdk_imports(path):
            where = f"{path.relative_to(PROJECT_DIR)}:{line}"
            # The bare package reaches every subpackage as an attribute, which mypy would then
            # see as Any for all the skipped ones: import subpackages by name.
            assert module != SDK, f"{where}: import a subpackage of {SDK}, not the package"
            imported.setdefault(module.split(".")[1], []).append(where)
    assert imported, "no Azure SDK import found: the scan is broken"
    assert sorted(imported) == sorted(analyzed_subpackages())
