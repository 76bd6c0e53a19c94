"""Every import statement of our five code folders, read with `ast`: who imports what, where, and whether it runs
when the module loads (module level) or only when a function runs (lazy). For tests/unit/test_layering.py."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("cli", "infra", "lambdas", "remote", "sandbox")
PACKAGE = "weatherballoon"


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository, e.g. "cli/commands/run.py"
    line: int
    name: str  # what it imports, resolved: "weatherballoon.lambdas.schema", "boto3", "os.path"
    lazy: bool  # inside a function: runs only when the function does
    typing_only: bool  # under `if TYPE_CHECKING:`: never runs

    @property
    def top(self) -> str:
        """The distribution-level name: `weatherballoon.cli`, `boto3`, `os`."""
        parts = self.name.split(".")
        return ".".join(parts[:2]) if parts[0] == PACKAGE else parts[0]

    def __str__(self) -> str:
        how = "lazily" if self.lazy else "for typing only" if self.typing_only else "at module level"
        return f"{self.file}:{self.line} imports {self.name} ({how})"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def our_modules() -> dict[str, Path]:
    return {module_name(path): path for folder in FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(node: ast.AST, lazy: bool, typing_only: bool) -> Iterator[tuple[ast.stmt, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, lazy, typing_only
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _statements(child, True, typing_only)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _statements(ast.Module(body=[stmt], type_ignores=[]), lazy, True)
            for stmt in child.orelse:
                yield from _statements(ast.Module(body=[stmt], type_ignores=[]), lazy, typing_only)
        else:
            yield from _statements(child, lazy, typing_only)


def imports_of(path: Path, modules: dict[str, Path]) -> list[Import]:
    """Each imported name resolved to a module where it is one: `from . import schema` imports
    `<package>.schema`; `from .schema import PK` imports `<package>.schema`."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    relative = path.relative_to(ROOT).as_posix()
    found: list[Import] = []
    for node, lazy, typing_only in _statements(ast.parse(path.read_text(), str(path)), False, False):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base == "__future__":
                continue
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        found += [Import(relative, node.lineno, name, lazy, typing_only) for name in dict.fromkeys(names)]
    return found


def all_imports() -> list[Import]:
    modules = our_modules()
    return [found for path in modules.values() for found in imports_of(path, modules)]
