"""DynamoDB read units of the calls a client makes, computed from what each call returned.

moto answers `ReturnConsumedCapacity` with a constant, so the units are computed here from DynamoDB's
documented rules:

- item size (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
  the sum of each attribute's UTF-8 name length and value size; a string is its UTF-8 bytes, a number about
  1 byte per two significant digits + 1, a boolean or null 1, a list or map 3 + its elements, each element
  one byte more;
- read units (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
  GetItem and each item of a BatchGetItem round up to the next 4 KB on its own; a Query page rounds the sum
  of the items it returned; a Scan page rounds the sum of every item it evaluated, returned or filtered out;
  one unit per 4 KB strongly consistent, half a unit eventually consistent.

`ReadUnits.attach(client)` meters every call the client makes. `scan_units(client, table)` is what one full
Scan of the table costs (the reaper's read before issue 8), computed from the items as a Scan evaluates them;
`scan_units_of(sizes)` the same from the items' sizes, for a table too big to Scan in moto.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

BLOCK = 4096


def number_size(text: str) -> int:
    digits = str(Decimal(text).normalize()).lstrip("-").replace(".", "")
    digits = digits.split("E")[0].strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + value_size(v) + 1 for k, v in data.items())
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(number_size(n) for n in data)
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def units(size: int, consistent: bool) -> float:
    blocks = max(1, math.ceil(size / BLOCK))
    return blocks * (1.0 if consistent else 0.5)


class ReadUnits:
    """Read units per DynamoDB operation, for every call of the clients it is attached to."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build.dynamodb", self._remember)
        client.meta.events.register("after-call.dynamodb", self._count)
        return client

    @property
    def total(self) -> float:
        return sum(self.by_operation.values())

    @staticmethod
    def _remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["wb_consistent"] = bool(params.get("ConsistentRead"))

    def _count(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        consistent = bool(context.get("wb_consistent"))
        name = model.name
        if name == "GetItem":
            spent = units(item_size(parsed.get("Item", {})), consistent)
        elif name == "BatchGetItem":
            items = [i for table in parsed.get("Responses", {}).values() for i in table]
            spent = sum(units(item_size(i), consistent) for i in items)
        elif name == "Query":
            spent = units(sum(item_size(i) for i in parsed.get("Items", [])), consistent)
        elif name == "Scan":
            # A metered Scan sees only what it returned; use scan_units() for the whole-table figure.
            spent = units(sum(item_size(i) for i in parsed.get("Items", [])), consistent)
        else:
            return
        with self._lock:
            self.by_operation[name] += spent
            self.calls[name] += 1


def scan_units(client: Any, table: str, page_bytes: int = 1024 * 1024) -> tuple[float, int, int]:
    """(read units, pages, items) of one eventually consistent Scan of the whole table: every item is
    evaluated, a page stops at 1 MB of evaluated data."""
    pages = client.get_paginator("scan").paginate(TableName=table)
    return scan_units_of((item_size(item) for page in pages for item in page["Items"]), page_bytes)


def scan_units_of(sizes: Iterable[int], page_bytes: int = 1024 * 1024) -> tuple[float, int, int]:
    """The same, from the sizes of the items in the order a Scan meets them (no Scan needed)."""
    total, pages, items, page = 0.0, 0, 0, 0
    for size in sizes:
        if page and page + size > page_bytes:
            total += units(page, False)
            pages += 1
            page = 0
        page += size
        items += 1
    if page:
        total += units(page, False)
        pages += 1
    return total, pages, items
