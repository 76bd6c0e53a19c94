"""`SupervisionStore` in a dict, with the same conditions as DynamoDB. For tests and the offline sandbox."""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

from . import schema
from .accrual import Accrual, ledger_increments
from .audit import AuditRecord, ReaperHeartbeat
from .budgets import BudgetEntry, LedgerEntry
from .errors import LeaseRefusedError, RowExistsError, RowNotFoundError
from .items import decimals, number
from .meter import MeterRecord
from .records import InstanceRecord, InstanceState, JobRow
from .store import Key, SupervisionStore

_ENDED = (InstanceState.TERMINATING.value, InstanceState.CLOSED.value)


class InMemoryStore(SupervisionStore):
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.RLock()

    # --- helpers -----------------------------------------------------------------------------------

    def put_item(self, item: dict[str, Any]) -> None:
        """Write an item as is (seeding tests)."""
        with self._lock:
            self.items[(item[schema.PK], item[schema.SK])] = decimals(copy.deepcopy(item))

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.items.get((pk, sk))
        return None if item is None else copy.deepcopy(item)

    def _update(self, pk: str, sk: str, changes: dict[str, Any]) -> None:
        item = self.items[(pk, sk)]
        for name, value in changes.items():
            if value is None:
                item.pop(name, None)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                item[name] = number(value)
            else:
                item[name] = value

    def _instance(self, owner: str, arn: str) -> dict[str, Any]:
        pk = schema.instance_pk(owner, arn)
        item = self.items.get((pk, schema.META_SK))
        if item is None:
            raise RowNotFoundError(pk, schema.META_SK)
        return item

    # --- the reaper --------------------------------------------------------------------------------

    def live_keys(self) -> list[Key]:
        with self._lock:
            return [key for key, item in self.items.items() if schema.LIVE_ATTRIBUTE in item]

    def get_items(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        with self._lock:
            return {key: copy.deepcopy(self.items[key]) for key in keys if key in self.items}

    def meter_items(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(i) for (pk, _), i in self.items.items() if pk.startswith(schema.METER_PREFIX)]

    def load_budgets(self) -> list[BudgetEntry]:
        with self._lock:
            return [BudgetEntry.from_item(i) for (pk, _), i in self.items.items() if pk == schema.BUDGET_PK]

    def load_ledger(self, month: str) -> list[LedgerEntry]:
        pk = schema.ledger_pk(month)
        with self._lock:
            return [LedgerEntry.from_item(i) for (p, _), i in self.items.items() if p == pk]

    def _transact_accruals(self, batch: Sequence[Accrual], now: float) -> set[Key]:
        with self._lock:
            stale = set()
            for accrual in batch:
                item = self.items.get((accrual.pk, accrual.sk))
                stored = None if item is None else item.get("accrued_until")
                expected = None if accrual.read_until is None else number(accrual.read_until)
                if stored != expected:
                    stale.add((accrual.pk, accrual.sk))
            if stale:
                return stale
            for accrual in batch:
                item = self.items.setdefault((accrual.pk, accrual.sk), {schema.PK: accrual.pk, schema.SK: accrual.sk})
                total = item.get("accrued_usd", number(0)) + number(accrual.usd)
                item.update(decimals({k: v for k, v in accrual.attributes.items() if k != "accrued_usd"}))
                item["accrued_usd"] = total
            for (month, scope, name), usd in ledger_increments(batch).items():
                key = (schema.ledger_pk(month), schema.scope_sk(scope, name))
                entry = self.items.setdefault(key, {schema.PK: key[0], schema.SK: key[1], "usd": number(0)})
                entry["usd"] = entry.get("usd", number(0)) + number(usd)
                entry["updated_at"] = number(now)
            return set()

    def delete_meter(self, meter: MeterRecord) -> bool:
        with self._lock:
            item = self.items.get((meter.pk, meter.sk))
            expected = None if meter.accrued_until is None else number(meter.accrued_until)
            if item is None or item.get("accrued_until") != expected:
                return False
            del self.items[(meter.pk, meter.sk)]
            return True

    def mark_terminating(self, row: InstanceRecord, reason: str, now: float) -> bool:
        with self._lock:
            item = self.items.get((row.pk, row.sk))
            if item is None or item.get("state") == InstanceState.CLOSED.value:
                return False
            self._update(
                row.pk, row.sk, {"state": InstanceState.TERMINATING.value, "reap_reason": reason, "reaped_at": now}
            )
            return True

    def close_instance(self, row: InstanceRecord, reason: str, now: float, expires_at: int | None) -> bool:
        with self._lock:
            item = self.items.get((row.pk, row.sk))
            if item is None or item.get("state") == InstanceState.CLOSED.value:
                return False
            changes: dict[str, Any] = {
                "state": InstanceState.CLOSED.value,
                "closed_at": now,
                schema.TTL_ATTRIBUTE: expires_at,
                schema.LIVE_ATTRIBUTE: None,
            }
            if "reap_reason" not in item:
                changes["reap_reason"] = reason
            self._update(row.pk, row.sk, changes)
            return True

    def close_job(self, job: JobRow, reason: str, now: float) -> bool:
        with self._lock:
            item = self.items.get((job.pk, job.sk))
            if item is None or "ended_at" in item:
                return False
            changes = {"ended_at": now, "stop_reason": reason, "state": "lost", schema.LIVE_ATTRIBUTE: None}
            self._update(job.pk, job.sk, changes)
            return True

    def put_audits(self, records: Sequence[AuditRecord]) -> None:
        for record in records:
            self.put_item(record.to_item())

    def put_heartbeat(self, heartbeat: ReaperHeartbeat) -> None:
        self.put_item(heartbeat.to_item())

    def get_heartbeat(self) -> ReaperHeartbeat | None:
        with self._lock:
            item = self._get(schema.REAPER_PK, schema.LAST_RUN_SK)
        return None if item is None else ReaperHeartbeat.from_item(item)

    # --- the client and the agent ------------------------------------------------------------------

    def create_instance(self, row: InstanceRecord) -> None:
        with self._lock:
            if (row.pk, row.sk) in self.items:
                raise RowExistsError(row.pk, row.sk)
            self.put_item(row.to_item())

    def get_instance(self, owner: str, arn: str) -> InstanceRecord | None:
        with self._lock:
            item = self._get(schema.instance_pk(owner, arn), schema.META_SK)
        return None if item is None else InstanceRecord.from_item(item)

    def renew_lease(
        self, owner: str, arn: str, lease_until: float, now: float, state: InstanceState | None = None
    ) -> InstanceRecord:
        with self._lock:
            item = self._instance(owner, arn)
            pk = item[schema.PK]
            if item.get("mark"):
                raise LeaseRefusedError(pk, f"marked: {item['mark']}")
            if item.get("state") in _ENDED:
                raise LeaseRefusedError(pk, f"state {item['state']}")
            changes: dict[str, Any] = {"renewed_at": now}
            if number(lease_until) > item["lease_until"]:
                changes["lease_until"] = lease_until
            if state is not None:
                changes["state"] = state.value
            self._update(pk, schema.META_SK, changes)
            return InstanceRecord.from_item(copy.deepcopy(item))

    def claim_instance(
        self,
        owner: str,
        arn: str,
        token: str,
        lease_until: float,
        now: float,
        margin_s: float = 0.0,
        known_lease: float | None = None,
    ) -> bool:
        with self._lock:
            item = self._instance(owner, arn)
            if item.get("state") != InstanceState.IDLE.value or item.get("mark"):
                return False
            fresh = number(now + margin_s)
            if item["lease_until"] <= fresh or item["max_until"] <= fresh:
                return False
            changes: dict[str, Any] = {"claim": token, "state": InstanceState.BUSY.value, "renewed_at": now}
            if number(lease_until) > item["lease_until"]:
                changes["lease_until"] = lease_until
            self._update(item[schema.PK], schema.META_SK, changes)
            return True

    def release_instance(
        self, owner: str, arn: str, claim: str | None, lease_until: float, now: float, known_lease: float | None = None
    ) -> bool:
        with self._lock:
            item = self._instance(owner, arn)
            if item.get("state") != InstanceState.BUSY.value or item.get("mark") or item.get("claim") != claim:
                return False
            changes: dict[str, Any] = {"state": InstanceState.IDLE.value, "renewed_at": now}
            if number(lease_until) > item["lease_until"]:
                changes["lease_until"] = lease_until
            self._update(item[schema.PK], schema.META_SK, changes)
            return True

    def mark_instance(self, owner: str, arn: str, reason: str) -> None:
        with self._lock:
            item = self._instance(owner, arn)
            self._update(item[schema.PK], schema.META_SK, {"mark": reason})

    def set_host_key(self, owner: str, arn: str, fingerprint: str) -> None:
        with self._lock:
            item = self._instance(owner, arn)
            self._update(item[schema.PK], schema.META_SK, {"host_key_fingerprint": fingerprint})

    def put_job(self, job: JobRow) -> None:
        self.put_item(job.to_item())

    def finish_job(
        self, job: JobRow, ended_at: float, state: str, exit_code: int | None, stop_reason: str | None
    ) -> None:
        with self._lock:
            if (job.pk, job.sk) not in self.items:
                raise RowNotFoundError(job.pk, job.sk)
            self._update(
                job.pk,
                job.sk,
                {
                    "ended_at": ended_at,
                    "state": state,
                    "exit_code": exit_code,
                    "stop_reason": stop_reason,
                    schema.LIVE_ATTRIBUTE: None,
                },
            )

    def record_push(self, owner: str, arn: str, job_id: str, at: float, error: str | None) -> bool:
        with self._lock:
            pk, sk = schema.instance_pk(owner, arn), schema.job_sk(job_id)
            if (pk, sk) not in self.items:
                return False
            self._update(pk, sk, {"pushed_at": at, "push_error": error})
            return True

    def get_jobs(self, owner: str, arn: str) -> list[JobRow]:
        pk = schema.instance_pk(owner, arn)
        with self._lock:
            items = [
                copy.deepcopy(i) for (p, s), i in self.items.items() if p == pk and s.startswith(schema.JOB_PREFIX)
            ]
        return sorted((JobRow.from_item(i) for i in items), key=lambda j: j.started_at)

    def touch_job(self, job: JobRow, now: float) -> bool:
        with self._lock:
            item = self.items.get((job.pk, job.sk))
            if item is None or "ended_at" in item:
                return False
            self._update(job.pk, job.sk, {"renewed_at": now})
            return True

    # --- admins ------------------------------------------------------------------------------------

    def set_budget(self, entry: BudgetEntry) -> None:
        self.put_item(entry.to_item())
