"""The bench's moto server: stock moto with two emulator-only quadratic paths made linear.

    python bench/moto_linear.py -H 127.0.0.1 -p PORT     # same arguments as `python -m moto.server`

Neither fix changes what moto answers; each removes a cost real AWS does not have:

1. TransactWriteItems keeps a rollback copy of a table by deep-copying it once per *item* of the
   transaction, before it writes anything, so all copies are identical. A 98-item transaction on a
   1,000-row table took about 13 s. Here, while a transaction runs, a repeated deep copy of the same table
   returns the first copy; one O(table) copy per call remains.
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


def snapshot_tables_once() -> None:
    import moto.dynamodb.models as models

    original = models.DynamoDBBackend.transact_write_items
    lock = threading.Lock()  # one transaction at a time while the module's `copy` is swapped

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        snapshots: dict[int, Any] = {}

        def deepcopy(obj: Any, memo: Any = None) -> Any:
            if isinstance(obj, models.Table):
                if id(obj) not in snapshots:
                    snapshots[id(obj)] = copy.deepcopy(obj, memo)
                return snapshots[id(obj)]
            return copy.deepcopy(obj, memo)

        with lock:
            models.copy = SimpleNamespace(deepcopy=deepcopy)  # type: ignore[assignment]
            try:
                return original(self, transact_items)
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
    snapshot_tables_once()
    direct_tag_lookup()
    from moto.server import main

    main(sys.argv[1:])
