"""The bench's moto server: stock moto with two emulator-only quadratic paths made linear.

    python bench/moto_linear.py -H 127.0.0.1 -p PORT     # same arguments as `python -m moto.server`

Neither fix changes what moto answers; each removes a cost real AWS does not have:

1. TransactWriteItems keeps a rollback copy of a table by deep-copying it once per *item* of the
   transaction, before it writes anything, so all copies are identical. A 98-item transaction on a
   1,000-row table took about 13 s, and beside 100,000 closed rows every transaction copied them all (the
   server grew past 11 GB). Here the rollback copy holds only the items the transaction names: each one's
   state before the call is kept, and put back if the transaction is cancelled. Same answers, same
   all-or-nothing effect, O(transaction) instead of O(table).
2. An instance's tags are found by scanning every tag of every resource with a regular expression
   (`describe_tags(filters={"resource-id": [id]})`), once per instance when filtering or rendering
   DescribeInstances: 3,000 instances took 57 s to describe, 1,000 took 5 s. Here a lookup for one exact
   resource id reads that resource's tags directly, in the same shape.
"""

from __future__ import annotations

import copy
import sys
import threading
from types import SimpleNamespace
from typing import Any


def rollback_per_item() -> None:
    import moto.dynamodb.models as models

    original = models.DynamoDBBackend.transact_write_items
    lock = threading.Lock()  # one transaction at a time while the module's `copy` is swapped

    def key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
        if op_type != "Put":
            return dict(op["Key"])
        table = backend.get_table(op["TableName"])
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {name: op["Item"][name] for name in names}

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        before: list[tuple[str, dict[str, Any], Any]] = []  # (table, key, the item's attributes or None)
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            if op_type not in {"Put", "Update", "Delete"} or op.get("TableName") not in self.tables:
                continue
            key = key_of(self, op_type, op)
            current = self.get_item(op["TableName"], key)
            before.append((op["TableName"], key, None if current is None else current.to_json()["Attributes"]))

        def no_table_copy(obj: Any, memo: Any = None) -> Any:
            return obj if isinstance(obj, models.Table) else copy.deepcopy(obj, memo)

        with lock:
            models.copy = SimpleNamespace(deepcopy=no_table_copy)  # type: ignore[assignment]
            try:
                return original(self, transact_items)
            except Exception:
                for table_name, key, attributes in reversed(before):
                    if attributes is None:
                        if self.get_item(table_name, key) is not None:
                            self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, copy.deepcopy(attributes))
                raise
            finally:
                models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def direct_tag_lookup() -> None:
    from moto.ec2.models.tags import TagBackend
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    original = TagBackend.describe_tags

    def describe_tags(self: Any, filters: dict[str, list[str]] | None = None) -> list[dict[str, str]]:
        ids = (filters or {}).get("resource-id") or []
        if filters is not None and list(filters) == ["resource-id"] and len(ids) == 1 and not set(ids[0]) & set("*?"):
            resource_id = ids[0]
            kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
            found = self.tags.get(resource_id, {})
            return [{"resource_id": resource_id, "key": k, "value": v, "resource_type": kind} for k, v in found.items()]
        return original(self, filters)

    TagBackend.describe_tags = describe_tags  # type: ignore[method-assign]


if __name__ == "__main__":
    rollback_per_item()
    direct_tag_lookup()
    from moto.server import main

    main(sys.argv[1:])
