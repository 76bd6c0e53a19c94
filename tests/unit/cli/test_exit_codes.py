"""The exit-code table in docs/cli.md lists every code wb can return, and the code keeps to it.

Three sources of codes are checked: every `WbError` subclass's `exit_code` (the entry point maps errors
through it), every literal code in the entry point and the commands (`return N`, `exit_now(N)`,
`os._exit(N)`, `sys.exit(N)`), and click's own (usage errors map to 2).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import weatherballoon.cli as cli_package
import weatherballoon.sandbox as sandbox_package
from weatherballoon.cli import errors

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "cli"
EXITS = ("exit_now", "shutdown.exit_now", "os._exit", "sys.exit")


def documented_codes() -> set[int]:
    text = (ROOT / "docs" / "cli.md").read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    codes = {int(match) for match in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}
    assert "| the command's own |" in section and "| 128+N |" in section
    return codes


def all_error_classes() -> set[type[errors.WbError]]:
    for package in (cli_package, sandbox_package):  # `wb sandbox` raises the sandbox's errors
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.endswith("__main__"):  # that one runs wb
                importlib.import_module(module.name)
    found: set[type[errors.WbError]] = set()
    todo = [errors.WbError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def literal_codes(path: Path) -> list[tuple[int, int]]:
    """(line, code) of each integer literal a function returns or exits the process with."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        value = None
        if isinstance(node, ast.Return):
            value = node.value
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in EXITS and node.args:
            value = node.args[0]
        if isinstance(value, ast.Constant) and isinstance(value.value, int) and not isinstance(value.value, bool):
            found.append((node.lineno, value.value))
        elif isinstance(value, ast.IfExp):
            for branch in (value.body, value.orelse):
                if isinstance(branch, ast.Constant) and isinstance(branch.value, int):
                    found.append((node.lineno, branch.value))
    return found


def test_the_table_has_the_codes_the_design_promises() -> None:
    assert {0, 1, 2, 124, 130, 141, 255} <= documented_codes()


def test_every_error_class_exits_with_a_documented_code() -> None:
    documented = documented_codes()
    classes = all_error_classes()
    assert len(classes) > 10  # the walk found the tree, not just the root
    stray = {f"{cls.__module__}.{cls.__name__}": cls.exit_code for cls in classes if cls.exit_code not in documented}
    assert stray == {}


def test_every_literal_code_in_the_entry_point_and_the_commands_is_documented() -> None:
    documented = documented_codes()
    files = [CLI / "main.py", CLI / "entry.py", *sorted((CLI / "commands").glob("*.py")), CLI / "jobs" / "run_job.py"]
    stray = [
        f"{path.relative_to(ROOT)}:{line} returns {code}"
        for path in files
        for line, code in literal_codes(path)
        if code not in documented
    ]
    assert stray == []
    assert literal_codes(CLI / "main.py")  # the scan sees the entry point's own mapping


def test_the_named_codes_are_documented() -> None:
    assert {errors.EXIT_USAGE, errors.EXIT_SUPERVISION, errors.EXIT_CONNECT} <= documented_codes()
