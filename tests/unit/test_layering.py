"""DESIGN §2 import rules, checked on the source: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "lambdas": ("weatherballoon.cli", "weatherballoon.infra", "weatherballoon.remote", "aws_cdk", "paramiko", "click"),
    "remote": ("weatherballoon.cli", "weatherballoon.infra", "aws_cdk", "paramiko", "click", "pydantic"),
    "infra": ("weatherballoon.cli", "weatherballoon.remote", "paramiko", "click"),
    "cli": ("weatherballoon.infra", "aws_cdk"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names: list[str] = []
    package = "weatherballoon." + ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.append(".".join([*base, node.module or ""]).rstrip("."))
            elif node.module:
                names.append(node.module)
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_folder_imports_only_what_design_allows(folder: str) -> None:
    offenders = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in _imports(path):
            if name.startswith(FORBIDDEN[folder]):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []
