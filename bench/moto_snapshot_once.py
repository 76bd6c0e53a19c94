"""The bench's moto server: stock moto with TransactWriteItems snapshotting each table once per call.

moto 5.2 keeps a rollback copy of a table by deep-copying it once per *item* of a transaction, before it
writes anything, so every copy is identical and a 100-item transaction on a 10,000-row table copies a
million items (measured: one 98-item transaction on a 1,000-row table takes about 13 s). Real DynamoDB
has no such cost. Here, while a transaction runs, a repeated deep copy of the same table returns the first
copy: behaviour is unchanged (the copies were identical), and one O(table) copy per call remains.

    python bench/moto_snapshot_once.py -H 127.0.0.1 -p PORT     # same arguments as `python -m moto.server`
"""

from __future__ import annotations

import copy
import sys
import threading
from types import SimpleNamespace
from typing import Any


def install() -> None:
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


if __name__ == "__main__":
    install()
    from moto.server import main

    main(sys.argv[1:])
