"""Low-level DynamoDB plumbing for `DynamoStore`: typed-value codec, expressions, error mapping."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from . import schema
from .accrual import Accrual, ledger_increments
from .errors import StoreError
from .items import decimals

RETRYABLE_CODES = frozenset(
    {
        "TransactionConflict",
        "TransactionConflictException",
        "ThrottlingException",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "TransactionInProgressException",
    }
)


@lru_cache(maxsize=None)  # noqa: UP033 -- functools.cache is 3.9+; this runs on 3.8
def _codec() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def to_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain item -> {"name": {"S": ...}}."""
    serializer, _ = _codec()
    return {k: serializer.serialize(decimals(v)) for k, v in item.items()}


def from_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    _, deserializer = _codec()
    return {k: deserializer.deserialize(v) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {schema.PK: {"S": pk}, schema.SK: {"S": sk}}


def values(**kwargs: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: `values(now=1.5)` -> {":now": {"N": "1.5"}}."""
    return {f":{name}": to_wire({"v": value})["v"] for name, value in kwargs.items()}


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


def store_error(exc: Exception, operation: str) -> StoreError:
    code = error_code(exc)
    return StoreError(f"DynamoDB {operation} failed: {code}: {exc}", operation=operation, code=code)


NOT_CLOSED = "(attribute_not_exists(#state) OR #state <> :closed)"


def accrual_transaction(table: str, batch: list[Accrual], now: float) -> list[dict[str, Any]]:
    """TransactItems: one conditional update per meter row, one ADD per ledger row.

    A meter's update sets every meter attribute (a new meter is created whole) and adds the charge; it holds
    only while `accrued_until` is what this run read, or absent for a new meter."""
    items: list[dict[str, Any]] = []
    for accrual in batch:
        attributes = {k: v for k, v in accrual.attributes.items() if k != "accrued_usd"}
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        vals = values(usd=accrual.usd)
        vals.update(values(**{f"a{i}": value for i, value in enumerate(attributes.values())}))
        if accrual.read_until is None:
            condition = "attribute_not_exists(accrued_until)"
        else:
            condition = "accrued_until = :read"
            vals.update(values(read=accrual.read_until))
        items.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": key(accrual.pk, accrual.sk),
                    "UpdateExpression": "SET "
                    + ", ".join(f"#a{i} = :a{i}" for i in range(len(names)))
                    + " ADD accrued_usd :usd",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": vals,
                }
            }
        )
    for (month, scope, name), usd in sorted(ledger_increments(batch).items(), key=lambda kv: str(kv[0])):
        items.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": key(schema.ledger_pk(month), schema.scope_sk(scope, name)),
                    "UpdateExpression": "SET updated_at = :now ADD usd :usd",
                    "ExpressionAttributeValues": values(now=now, usd=usd),
                }
            }
        )
    return items
