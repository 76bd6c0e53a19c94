"""The supervision table as an interface. Implementations: `DynamoStore` (boto3) and `InMemoryStore`.

Every write that could race carries a condition, and both implementations enforce the same ones, so the
in-memory store is a faithful stand-in for unit tests of the code above it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Tuple  # noqa: UP035 -- see Key

from . import schema
from .accrual import Accrual, pack
from .audit import AuditRecord, ReaperHeartbeat
from .budgets import BudgetEntry, LedgerEntry
from .errors import MalformedItemError
from .meter import MeterRecord
from .records import InstanceRecord, InstanceState, JobRow
from .retry import Backoff

Key = Tuple[str, str]  # noqa: UP006 -- evaluated at import, and this runs on 3.8

ACCRUAL_ROUNDS = 4  # transaction attempts for one batch; each round drops the rows someone else advanced
ACCRUAL_BACKOFF = Backoff(attempts=ACCRUAL_ROUNDS, base_s=0.05)  # the wait after a transient conflict


@dataclass
class LiveRows:
    """What one reaper run reads: instance rows not closed, running job rows with a cap, and every meter."""

    instances: list[InstanceRecord] = field(default_factory=list)
    jobs: list[JobRow] = field(default_factory=list)
    meters: list[MeterRecord] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)  # "pk/sk: problem"

    def add(self, item: dict[str, Any]) -> None:
        """File one table item as an instance row, a job row or a meter (anything else is ignored)."""
        pk, sk = str(item.get(schema.PK, "")), str(item.get(schema.SK, ""))
        try:
            if pk.startswith(schema.METER_PREFIX):
                self.meters.append(MeterRecord.from_item(item))
            elif sk == schema.META_SK and pk.startswith(schema.OWNER_PREFIX):
                row = InstanceRecord.from_item(item)
                if not row.closed:
                    self.instances.append(row)
            elif sk.startswith(schema.JOB_PREFIX):
                job = JobRow.from_item(item)
                if job.running:
                    self.jobs.append(job)
        except MalformedItemError as exc:
            self.malformed.append(str(exc))


@dataclass
class AccrualOutcome:
    applied: list[Accrual] = field(default_factory=list)
    conflicts: list[Accrual] = field(default_factory=list)  # another writer advanced these first
    failed: list[tuple[Accrual, str]] = field(default_factory=list)

    def merge(self, other: AccrualOutcome) -> None:
        self.applied.extend(other.applied)
        self.conflicts.extend(other.conflicts)
        self.failed.extend(other.failed)


class TransactionRetry(Exception):
    """Raised by `_transact_accruals` when the whole transaction should be retried as is."""


class SupervisionStore(ABC):
    """The table, as the reaper, the client and the agent use it."""

    # --- the reaper -------------------------------------------------------------------------------

    def load_live(self, instance_keys: Iterable[Key] = ()) -> LiveRows:
        """The rows one run needs: the rows at `instance_keys` (the rows of the instances EC2 lists, found by
        key so that a row without `live` is still seen), every row in the live index (open rows whose
        instance may be gone, running jobs with caps), and every meter. Never a read of the whole table."""
        rows = LiveRows()
        wanted = list(dict.fromkeys([*instance_keys, *self.live_keys()]))
        for item in self.get_items(wanted).values():
            rows.add(item)
        for item in self.meter_items():
            rows.add(item)
        return rows

    @abstractmethod
    def live_keys(self) -> list[Key]:
        """(pk, sk) of every row carrying `live` (the sparse keys-only index), paged."""

    @abstractmethod
    def get_items(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        """The items at `keys` that exist (BatchGetItem, 100 keys a call, unprocessed keys retried)."""

    @abstractmethod
    def meter_items(self) -> list[dict[str, Any]]:
        """Every meter row: one Query per meter shard."""

    @abstractmethod
    def load_budgets(self) -> list[BudgetEntry]: ...

    @abstractmethod
    def load_ledger(self, month: str) -> list[LedgerEntry]: ...

    def apply_accruals(self, accruals: Sequence[Accrual], now: float) -> AccrualOutcome:
        """Write charges, packed into transactions. A row whose `accrued_until` changed since it was read
        is dropped from its transaction (its interval belongs to whoever changed it) and the rest retried."""
        outcome = AccrualOutcome()
        for batch in pack(accruals):
            outcome.merge(self._apply_batch(batch, now))
        return outcome

    def _apply_batch(self, batch: list[Accrual], now: float) -> AccrualOutcome:
        outcome = AccrualOutcome()
        pending = list(batch)
        for attempt in range(ACCRUAL_ROUNDS):
            if not pending:
                return outcome
            try:
                stale = self._transact_accruals(pending, now)
            except TransactionRetry as exc:
                if attempt == ACCRUAL_ROUNDS - 1:
                    outcome.failed.extend((a, str(exc)) for a in pending)
                    return outcome
                time.sleep(ACCRUAL_BACKOFF.delay(attempt))
                continue
            if not stale:
                outcome.applied.extend(pending)
                return outcome
            outcome.conflicts.extend(a for a in pending if (a.pk, a.sk) in stale)
            pending = [a for a in pending if (a.pk, a.sk) not in stale]
        outcome.failed.extend((a, "accrual conflicts did not settle") for a in pending)
        return outcome

    @abstractmethod
    def _transact_accruals(self, batch: Sequence[Accrual], now: float) -> set[Key]:
        """Write one batch atomically. Return the keys whose condition failed (nothing was written), or an
        empty set on success. Raise TransactionRetry for a transient conflict."""

    @abstractmethod
    def delete_meter(self, meter: MeterRecord) -> bool:
        """Remove a meter whose instance is gone, only while nobody charged it since it was read."""

    @abstractmethod
    def mark_terminating(self, row: InstanceRecord, reason: str, now: float) -> bool:
        """state=terminating, reap_reason, reaped_at; False when the row is closed or gone."""

    @abstractmethod
    def close_instance(self, row: InstanceRecord, reason: str, now: float, expires_at: int | None) -> bool:
        """state=closed, closed_at, `live` removed. False when already closed or gone."""

    @abstractmethod
    def close_job(self, job: JobRow, reason: str, now: float) -> bool:
        """ended_at=now, stop_reason, `live` removed; False when it had already ended."""

    @abstractmethod
    def put_audits(self, records: Sequence[AuditRecord]) -> None: ...

    @abstractmethod
    def put_heartbeat(self, heartbeat: ReaperHeartbeat) -> None: ...

    @abstractmethod
    def get_heartbeat(self) -> ReaperHeartbeat | None: ...

    # --- the client and the agent -----------------------------------------------------------------

    @abstractmethod
    def create_instance(self, row: InstanceRecord) -> None:
        """Write a new row; RowExistsError if one is there."""

    @abstractmethod
    def get_instance(self, owner: str, arn: str) -> InstanceRecord | None: ...

    @abstractmethod
    def renew_lease(
        self, owner: str, arn: str, lease_until: float, now: float, state: InstanceState | None = None
    ) -> InstanceRecord:
        """Extend the lease to `lease_until` (never shortening it) and optionally set idle/busy.
        LeaseRefusedError when the row is marked, terminating or closed; RowNotFoundError when absent."""

    @abstractmethod
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
        """Take an idle, unmarked instance for a new job (state busy, claim token, lease), in one conditional
        write. False when it is not idle any more (someone else claimed it, or supervision is ending it), or
        when less than `margin_s` of its lease or lifetime is left. `known_lease`, the row's lease as the caller
        last saw it, only picks which of the two conditional writes (extend the lease, or leave a longer one
        alone) is tried first."""

    @abstractmethod
    def release_instance(
        self, owner: str, arn: str, claim: str | None, lease_until: float, now: float, known_lease: float | None = None
    ) -> bool:
        """Back to the warm pool (state idle, the lease extended to `lease_until`, never shortened), only while
        the row is busy under `claim` (None: not claimed since launch). False otherwise: someone claimed it
        since, or supervision is ending it; the row is then left as it is."""

    @abstractmethod
    def mark_instance(self, owner: str, arn: str, reason: str) -> None:
        """Request termination: the agent powers off and the reaper terminates (`marked`)."""

    @abstractmethod
    def set_host_key(self, owner: str, arn: str, fingerprint: str) -> None: ...

    @abstractmethod
    def put_job(self, job: JobRow) -> None: ...

    @abstractmethod
    def finish_job(
        self, job: JobRow, ended_at: float, state: str, exit_code: int | None, stop_reason: str | None
    ) -> None: ...

    @abstractmethod
    def get_jobs(self, owner: str, arn: str) -> list[JobRow]: ...

    @abstractmethod
    def touch_job(self, job: JobRow, now: float) -> bool:
        """The agent's heartbeat on a running job's row (`renewed_at`). False when the row is gone or ended."""

    @abstractmethod
    def record_push(self, owner: str, arn: str, job_id: str, at: float, error: str | None) -> bool:
        """The agent's last push of the job's outputs: when, and why it failed (None: it went through).
        False when the job has no row."""

    # --- admins ------------------------------------------------------------------------------------

    @abstractmethod
    def set_budget(self, entry: BudgetEntry) -> None: ...
