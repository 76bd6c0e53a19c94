"""Conversions between typed records and DynamoDB items in their plain Python form.

An item here is what boto3's `TypeSerializer` takes and `TypeDeserializer` gives: str, bool, Decimal for
numbers, lists and dicts. Records keep floats; numbers cross as `Decimal(repr(float))`, which reads back as
the very same float, so a value read can be used in a conditional write unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .errors import MalformedItemError


def number(value: float | int) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a bool is not a number here")
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(float(value)))


def put(item: dict[str, Any], name: str, value: Any) -> None:
    """Set `name` unless value is None; floats and ints become Decimal."""
    if value is None:
        return
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        item[name] = number(value)
    else:
        item[name] = value


class Reader:
    """Typed access to one item's attributes, naming the item in every error."""

    def __init__(self, item: Mapping[str, Any]) -> None:
        self.item = item
        self.where = f"{item.get('pk')!r}/{item.get('sk')!r}"

    def fail(self, name: str, problem: str) -> MalformedItemError:
        return MalformedItemError(f"item {self.where}: attribute {name!r} {problem}", key=self.where)

    def text(self, name: str) -> str:
        value = self.item.get(name)
        if not isinstance(value, str):
            raise self.fail(name, "is missing or not a string")
        return value

    def opt_text(self, name: str) -> str | None:
        value = self.item.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(name, "is not a string")
        return value

    def num(self, name: str) -> float:
        value = self.opt_num(name)
        if value is None:
            raise self.fail(name, "is missing")
        return value

    def opt_num(self, name: str) -> float | None:
        value = self.item.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (Decimal, int, float)):
            raise self.fail(name, "is not a number")
        return float(value)

    def opt_int(self, name: str) -> int | None:
        value = self.opt_num(name)
        return None if value is None else int(value)

    def texts(self, name: str) -> tuple[str, ...]:
        value = self.item.get(name)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, "is not a list of strings")
        return tuple(value)

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.item.get(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(name, "is not a map")
        return {str(k): plain(v) for k, v in value.items()}


def decimals(value: Any) -> Any:
    """Every int and float inside `value` as Decimal, as DynamoDB stores numbers."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, Mapping):
        return {k: decimals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [decimals(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """Decimal -> int or float, recursively, for values that leave the model (logs, JSON)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
