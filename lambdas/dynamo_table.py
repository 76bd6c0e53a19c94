"""The DynamoDB client edge of `DynamoStore`: lazy client, paging, error mapping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import schema
from .aws import DEFAULT_MAX_ATTEMPTS
from .dynamo_codec import error_code, from_wire, key, store_error, values
from .lazy_client import LazyClient


def table_request(name: str) -> dict[str, Any]:
    """CreateTable arguments for the supervision table, as the CDK stack declares it (infra/table.py): pk/sk
    strings, on-demand, and the sparse keys-only index of live rows. Tests and benches create it from here."""
    strings = [schema.PK, schema.SK, schema.LIVE_ATTRIBUTE]
    keys = [{"AttributeName": schema.PK, "KeyType": "HASH"}, {"AttributeName": schema.SK, "KeyType": "RANGE"}]
    return {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in strings],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": schema.LIVE_INDEX,
                "KeySchema": [
                    {"AttributeName": schema.LIVE_ATTRIBUTE, "KeyType": "HASH"},
                    {"AttributeName": schema.PK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


class DynamoTable(LazyClient):
    """One table through one client. Pass `client` (boto3 DynamoDB) or `session`; else built on first use."""

    service = "dynamodb"

    def __init__(
        self,
        table_name: str,
        *,
        client: Any | None = None,
        session: Any | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        super().__init__(client=client, session=session, max_attempts=max_attempts)
        self.table_name = table_name

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(TableName=self.table_name, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, operation) from exc

    def _pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in self.client.get_paginator(operation).paginate(TableName=self.table_name, **kwargs):
                for item in page.get("Items", []):
                    yield from_wire(item)
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, operation) from exc

    def _update(self, pk: str, sk: str, expression: str, condition: str, **kwargs: Any) -> bool:
        """UpdateItem; False when the condition failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=key(pk, sk),
                UpdateExpression=expression,
                ConditionExpression=condition,
                **kwargs,
            )
            return True
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise store_error(exc, "update_item") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "update_item") from exc

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._call("get_item", Key=key(pk, sk), ConsistentRead=True).get("Item")
        return None if item is None else from_wire(item)

    def _query(self, pk: str, sk_prefix: str | None = None) -> Iterator[dict[str, Any]]:
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if sk_prefix else "")
        vals = values(pk=pk, prefix=sk_prefix) if sk_prefix else values(pk=pk)
        return self._pages("query", KeyConditionExpression=condition, ExpressionAttributeValues=vals)
