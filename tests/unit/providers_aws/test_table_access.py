"""The client reaches the supervision table only through the `SupervisionStore` interface: no DynamoDB item
call is made from cli/ directly (the sandbox, an emulator, aside)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ITEM_CALLS = {
    "batch_get_item", "batch_write_item", "delete_item", "get_item", "put_item", "query", "scan",
    "transact_write_items", "update_item",
}  # fmt: skip


def test_no_dynamodb_item_call_outside_the_store() -> None:
    offenders = []
    for path in sorted((ROOT / "cli").rglob("*.py")):
        if "sandbox" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ITEM_CALLS:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert offenders == []
