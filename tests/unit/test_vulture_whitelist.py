"""The unused-code check's whitelist (.ci/vulture_whitelist.py) gives a reason for every name it keeps."""

from __future__ import annotations

import ast
from pathlib import Path

WHITELIST = Path(__file__).resolve().parents[2] / ".ci" / "vulture_whitelist.py"


def test_every_entry_says_why_it_is_not_dead() -> None:
    source = WHITELIST.read_text()
    lines = source.splitlines()
    entries = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant)
    ]
    assert entries, "the whitelist names nothing"
    bare = [lines[node.lineno - 1] for node in entries if "#" not in lines[node.lineno - 1]]
    assert bare == [], f"entries without a reason comment: {bare}"
