"""docs/iam.md and the proofs stay in step: every privilege test is in the table, every name in it exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).parent
DOC = HERE.parents[2] / "docs" / "iam.md"
PROOF_FILES = [
    "test_member_privileges.py",
    "test_machine_privileges.py",
    "test_admin_privileges.py",
    "test_proofs_are_not_vacuous.py",
    "test_extra_bucket_privileges.py",
    "test_gang_privileges.py",
    "test_access_privileges.py",
]


def defined_tests() -> set[str]:
    names: set[str] = set()
    for file in PROOF_FILES:
        tree = ast.parse((HERE / file).read_text(encoding="utf-8"))
        names |= {
            node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        }
    return names


def documented_tests() -> set[str]:
    table = DOC.read_text(encoding="utf-8").split("## Properties proven", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(?:[\w/]+\.py::)?(test_\w+)`", table))


def test_every_privilege_test_is_documented_and_every_documented_test_exists() -> None:
    defined, documented = defined_tests(), documented_tests()
    assert defined - documented == set(), "add these to the table in docs/iam.md"
    assert documented - defined == set(), "docs/iam.md names tests that do not exist"
