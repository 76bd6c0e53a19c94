"""The DynamoDB store keeps the same contract as the in-memory one, against the moto server over HTTP."""

from __future__ import annotations

import pytest
from weatherballoon.lambdas.dynamo_store import DynamoStore
from weatherballoon.lambdas.errors import StoreError
from weatherballoon.lambdas.store import SupervisionStore

from tests.integration.lambdas.conftest import TABLE, World
from tests.unit.lambdas.builders import row
from tests.unit.lambdas.store_contract import StoreContract


class TestDynamoStore(StoreContract):
    @pytest.fixture
    def store(self, world: World) -> SupervisionStore:
        return DynamoStore(TABLE, session=world.session)

    def seed(self, store: SupervisionStore, item: dict) -> None:
        from weatherballoon.lambdas.dynamo_codec import to_wire

        assert isinstance(store, DynamoStore)
        store.client.put_item(TableName=store.table_name, Item=to_wire(item))


def test_malformed_rows_are_reported_not_fatal(world: World) -> None:
    world.store.create_instance(row("i-1"))
    bad = row("i-2").to_item()
    bad["state"] = "exploded"
    from weatherballoon.lambdas.dynamo_codec import to_wire

    world.ddb.put_item(TableName=TABLE, Item=to_wire(bad))
    live = world.store.load_live()
    assert [r.instance_id for r in live.instances] == ["i-1"]
    assert len(live.malformed) == 1 and "state" in live.malformed[0]


def test_a_missing_table_is_a_store_error_naming_the_operation(world: World) -> None:
    with pytest.raises(StoreError) as info:
        DynamoStore("no-such-table", session=world.session).load_live()
    assert info.value.operation == "query" and info.value.code == "ResourceNotFoundException"


def test_live_rows_are_read_by_key_in_batches_never_by_scan(world: World) -> None:
    now = 1_790_000_000.0
    records = [world.row(f"i-{n:05d}", now, extra={"pad": "x" * 8000}) for n in range(180)]
    world.put_rows(records)
    calls: list[str] = []
    world.ddb.meta.events.register("before-call.dynamodb", lambda model, **kw: calls.append(model.name))
    assert len(world.store.load_live().instances) == 180
    assert "Scan" not in calls and calls.count("BatchGetItem") >= 2  # 100 keys a call
