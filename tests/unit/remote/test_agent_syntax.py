"""The agent ships to hosts with python3 as old as 3.8: every module of it must parse there."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import weatherballoon.remote

AGENT_MODULES = sorted(Path(next(iter(weatherballoon.remote.__path__))).rglob("*.py"))


@pytest.mark.parametrize("path", AGENT_MODULES, ids=lambda path: "/".join(path.parts[-2:]))
def test_agent_module_parses_as_python_3_8(path: Path) -> None:
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))
