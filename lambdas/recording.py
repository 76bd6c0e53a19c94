"""How the reaper records what it decided: audit rows, the heartbeat, and guarded concurrent row writes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .audit import AuditRecord, ReaperHeartbeat, audit_expiry
from .config import ReaperSettings
from .decision import Decision, InstanceFacts
from .records import InstanceRecord
from .report import RunReport
from .store import SupervisionStore

T = TypeVar("T")


def audit_record(
    settings: ReaperSettings,
    report: RunReport,
    now: float,
    instance_id: str,
    decision: Decision,
    owner: str,
    team: str,
    facts: InstanceFacts | None,
    row: InstanceRecord | None,
    applied: bool,
) -> AuditRecord:
    """One audit row: the decision, its reason, the facts it was made from, and whether it took effect
    (`applied`: EC2 acknowledged the termination, or the row was closed)."""
    action = decision.action.value if not settings.dry_run else f"would-{decision.action.value}"
    details: dict[str, Any] = {"detail": decision.detail, "applied": applied}
    if facts is not None:
        details.update(ec2_state=facts.state, instance_type=facts.instance_type, launched_at=facts.launched_at)
    if row is not None:
        details.update(
            lease_until=row.lease_until,
            max_until=row.max_until,
            row_state=row.state.value,
            accrued_usd=row.accrued_usd,
            mark=row.mark,
        )
    expires = audit_expiry(now, settings.audit_ttl_days)
    return AuditRecord(
        now, instance_id, action, decision.reason.value, settings.mode.value, report.run_id, owner, team,
        details, expires,
    )  # fmt: skip


AUDIT_CHUNK = 25  # one BatchWriteItem


def put_audits(store: SupervisionStore, report: RunReport, audits: list[AuditRecord], workers: int = 1) -> None:
    """Write audit rows in chunks of one BatchWriteItem each, `workers` at a time; a failing chunk is
    recorded and the others are still written."""
    chunks = [audits[start : start + AUDIT_CHUNK] for start in range(0, len(audits), AUDIT_CHUNK)]

    def write(chunk: list[AuditRecord]) -> bool:
        store.put_audits(chunk)
        return True

    parallel(report, "audit", chunks, write, lambda chunk: f"{len(chunk)} rows from {chunk[0].instance_id}", workers)


def put_heartbeat(store: SupervisionStore, report: RunReport) -> None:
    heartbeat = ReaperHeartbeat(
        report.run_id, report.started_at, report.finished_at, report.mode, report.counts(), len(report.failures)
    )
    try:
        store.put_heartbeat(heartbeat)
    except Exception as exc:
        report.fail("heartbeat", "REAPER", exc)


def parallel(
    report: RunReport,
    stage: str,
    items: Sequence[T],
    work: Callable[[T], bool],
    name: Callable[[T], str],
    workers: int,
) -> list[bool]:
    """Run per-row writes concurrently, results in input order. A failure is recorded against its row and
    counts as False; the other rows go on."""

    def guarded(item: T) -> bool:
        try:
            return bool(work(item))
        except Exception as exc:
            report.fail(stage, name(item), exc)
            return False

    workers = max(1, min(workers, len(items)))
    if workers == 1:
        return [guarded(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(guarded, items))
