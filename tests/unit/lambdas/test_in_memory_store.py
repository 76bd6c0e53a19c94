"""The in-memory store keeps the store contract (the same tests run against DynamoDB on moto)."""

from __future__ import annotations

import pytest
from weatherballoon.lambdas import schema
from weatherballoon.lambdas.in_memory_store import InMemoryStore
from weatherballoon.lambdas.store import SupervisionStore

from .builders import row
from .store_contract import StoreContract


class TestInMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> SupervisionStore:
        return InMemoryStore()

    def seed(self, store: SupervisionStore, item: dict) -> None:
        assert isinstance(store, InMemoryStore)
        store.put_item(item)


def test_malformed_rows_are_reported_not_fatal() -> None:
    store = InMemoryStore()
    store.create_instance(row("i-1"))
    bad = row("i-2").to_item()
    del bad["lease_until"]
    store.put_item(bad)
    live = store.load_live([(bad["pk"], bad["sk"])])
    assert [r.instance_id for r in live.instances] == ["i-1"]
    assert len(live.malformed) == 1 and "lease_until" in live.malformed[0]


def test_audit_rows_land_under_their_day() -> None:
    from weatherballoon.lambdas.audit import AuditRecord

    store = InMemoryStore()
    store.put_audits([AuditRecord(1_790_000_000.0, "i-1", "terminate", "orphan", "enforce", "r")])
    ((pk, sk),) = [k for k in store.items if k[0].startswith(schema.AUDIT_PREFIX)]
    assert pk == "AUDIT#2026-09-21" and sk.endswith("#i-1")
