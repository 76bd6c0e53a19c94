"""The agent's rooms and who may import whom (the map is in remote/agent.py's docstring).

Imports go one way: daemon/ may use jobs/ and sync/, jobs/ may use sync/, and the top-level modules
(agent_io, procinfo, boot...) use none of the three. The agent is stdlib-only on python3 >= 3.8:
boto3 and botocore only in daemon/ and boot.py, and only inside functions (they alone run on the instance's
venv, where boto3 is). boot.py ships verbatim in user-data, so it imports nothing of wb at all.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REMOTE = Path(__file__).resolve().parents[3] / "remote"
MAY_USE = {"top": set(), "sync": {"top"}, "jobs": {"top", "sync"}, "daemon": {"top", "sync", "jobs"}}
AWS_SDK = ("boto3", "botocore")
NEWER_STDLIB = {"_sha2"}  # python >= 3.12's name of _sha256 (sync.state tries both)


def room(path: Path) -> str:
    parts = path.relative_to(REMOTE).parts
    return parts[0] if len(parts) > 1 else "top"


def imports(path: Path) -> list[tuple[str, bool]]:
    """(absolute module name, whether the import sits at module level) for every import in `path`."""
    package = ["weatherballoon", "remote", *path.relative_to(REMOTE).parts[:-1]]
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body} | {
        id(inner) for node in tree.body if isinstance(node, ast.If) for inner in node.body
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            if module == "weatherballoon.remote":  # `from .. import procinfo`: each name is a module
                found += [(f"{module}.{alias.name}", id(node) in top_level) for alias in node.names]
            else:
                found.append((module, id(node) in top_level))
    return found


def target_room(module: str) -> str:
    parts = module.split(".")[2:]
    return parts[0] if parts and (REMOTE / parts[0]).is_dir() else "top"


AGENT_FILES = sorted(REMOTE.rglob("*.py"))


@pytest.mark.parametrize("path", AGENT_FILES, ids=lambda path: "/".join(path.relative_to(REMOTE).parts))
def test_imports_go_one_way_and_stay_in_the_stdlib(path: Path) -> None:
    mine = room(path)
    wrong = []
    for module, at_module_level in imports(path):
        top = module.split(".")[0]
        if module.startswith("weatherballoon.remote"):
            other = target_room(module)
            if other != mine and other not in MAY_USE[mine]:
                wrong.append(f"{module} ({mine}/ may not use {other}/)")
        elif module.startswith("weatherballoon."):
            if not module.startswith("weatherballoon.lambdas"):
                wrong.append(f"{module} (the agent uses only the supervision model)")
        elif top in AWS_SDK:
            if (mine != "daemon" and path.name != "boot.py") or at_module_level:
                wrong.append(f"{module} (boto3 only in daemon/, inside a function)")
        elif top not in sys.stdlib_module_names and top not in NEWER_STDLIB:
            wrong.append(f"{module} (not in the standard library)")
    assert wrong == []


def test_boot_imports_nothing_of_wb() -> None:
    assert [module for module, _ in imports(REMOTE / "boot.py") if module.startswith("weatherballoon")] == []


def test_every_room_is_a_package() -> None:
    rooms = set(MAY_USE) - {"top"}
    assert {path.name for path in REMOTE.iterdir() if path.is_dir() and path.name != "__pycache__"} == rooms
    assert all((REMOTE / name / "__init__.py").is_file() for name in rooms)


def run_time_imports(path: Path) -> set[str]:
    """The modules `path` imports outside `if TYPE_CHECKING:` blocks (relative ones as written)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


RUN_FILES = [path for path in AGENT_FILES if path.name != "protocols.py"]  # that one is for the type checker


@pytest.mark.parametrize("path", RUN_FILES, ids=lambda path: "/".join(path.relative_to(REMOTE).parts))
def test_types_cost_nothing_at_run_time(path: Path) -> None:
    """`typing` and the daemon's Protocols are for the type checker: no agent module loads them to run."""
    loaded = run_time_imports(path)
    assert not {name for name in loaded if name == "typing" or name.endswith("protocols")}
