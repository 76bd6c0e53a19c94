"""The daemon's decision: a pure function of what one pass observed and `now` (no I/O, no clock).

Order, checked on every pass:
1. power off (`lease.power_off_reason`): the control plane unreachable for leaseMinutes, the row missing,
   marked, terminating or closed, its lifetime (`max_until`) over, or its lease expired. An expired lease
   stops the machine even mid-job: the agent renews while jobs run, so a lapse means something chose to
   stop renewing (a refused renewal, the lifetime cap) or the agent itself was down.
2. stop every running job whose cost (instance price x time since it started) reached its `max_cost_usd`.
3. the lease: while a job runs, renew to now + leaseMinutes (never past `max_until`), state busy; on the
   pass after the last job ended, set the warm window now + idleMinutes, state idle; otherwise leave it to
   whoever else renews (an attached client).
4. when to look again: the next period, or sooner when a deadline (lease end, lifetime, a cost cap, the
   control-plane limit) falls before it, so the overspend is not a whole period.

Runs on python3 >= 3.8, stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...lambdas import lease
from ...lambdas.records import InstanceRecord, InstanceState, JobRow

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class Facts:
    """What one pass knows. `row` is the last good read; `row_seen` says whether a read ever answered (a
    None row with `row_seen` means the row does not exist). `contact_ok`: the table answered this pass."""

    now: float
    lease_minutes: float
    idle_minutes: float
    renew_seconds: float
    last_contact: float
    row: InstanceRecord | None
    row_seen: bool
    contact_ok: bool
    running: tuple[str, ...] = ()  # ids of the jobs running on this machine
    was_busy: bool = False  # a job was running when the lease was last written
    started_at: Mapping[str, float] = field(default_factory=dict)  # job id -> when it started (local record)
    job_rows: Mapping[str, JobRow] = field(default_factory=dict)  # job id -> its row, running rows only
    stopping: frozenset[str] = frozenset()  # jobs already being stopped


@dataclass(frozen=True)
class LeaseWrite:
    until: float
    state: InstanceState
    why: str


@dataclass(frozen=True)
class CostStop:
    job_id: str
    cost_usd: float
    cap_usd: float
    reached_at: float  # when the cost reached the cap: the moment spending on this job should have stopped


@dataclass(frozen=True)
class Plan:
    power_off: lease.PowerOff | None = None
    detail: str = ""
    lease: LeaseWrite | None = None
    stops: tuple[CostStop, ...] = ()
    wake_at: float = 0.0


def cost_cap_time(started_at: float, cap_usd: float, price_usd_hour: float) -> float:
    """The instant a job started at `started_at` costs `cap_usd` at `price_usd_hour`."""
    return started_at + cap_usd / price_usd_hour * 3600.0


def _power_off_detail(reason: lease.PowerOff, facts: Facts) -> str:
    row = facts.row
    if reason is lease.PowerOff.CONTROL_PLANE_LOST:
        silent = facts.now - facts.last_contact
        text = f"no answer from the table for {silent:.1f}s (limit {facts.lease_minutes:g} min)"
        return text + (f"; the last renewed lease ended {facts.now - row.lease_until:.1f}s ago" if row else "")
    if row is None:
        return "the instance row does not exist"
    if reason is lease.PowerOff.MARKED:
        return f"marked for termination: {row.mark}"
    if reason in (lease.PowerOff.TERMINATING, lease.PowerOff.CLOSED):
        return f"row state {row.state.value}" + (f" ({row.reap_reason})" if row.reap_reason else "")
    if reason is lease.PowerOff.MAX_LIFETIME:
        return f"lifetime ended {facts.now - row.max_until:.1f}s ago (max_until {row.max_until:.3f})"
    return f"lease ended {facts.now - row.lease_until:.1f}s ago (lease_until {row.lease_until:.3f})"


def _power_off(facts: Facts) -> lease.PowerOff | None:
    if not facts.row_seen:  # never read: only the silence of the table counts
        if facts.now - facts.last_contact >= facts.lease_minutes * 60.0:
            return lease.PowerOff.CONTROL_PLANE_LOST
        return None
    reason = lease.power_off_reason(facts.now, facts.row, facts.last_contact, facts.lease_minutes)
    if reason is lease.PowerOff.LEASE_EXPIRED and facts.running and not facts.contact_ok:
        # The lease we kept renewing lapsed because the renewals stopped getting through.
        return lease.PowerOff.CONTROL_PLANE_LOST
    return reason


def _cost_stops(facts: Facts, row: InstanceRecord) -> tuple[CostStop, ...]:
    stops = []
    for job_id in facts.running:
        job = facts.job_rows.get(job_id)
        if job is None or job.max_cost_usd is None or row.price_usd_hour <= 0 or job_id in facts.stopping:
            continue
        started = facts.started_at.get(job_id, job.started_at)
        cost = row.price_usd_hour * max(0.0, facts.now - started) / 3600.0
        if cost >= job.max_cost_usd:
            reached = cost_cap_time(started, job.max_cost_usd, row.price_usd_hour)
            stops.append(CostStop(job_id, cost, job.max_cost_usd, reached))
    return tuple(stops)


def _lease_write(facts: Facts, row: InstanceRecord) -> LeaseWrite | None:
    if facts.running:
        until = lease.renew(facts.now, facts.lease_minutes, row.lease_until, row.max_until)
        return LeaseWrite(until, InstanceState.BUSY, f"{len(facts.running)} job(s) running")
    if facts.was_busy:
        until = lease.idle_lease(facts.now, facts.idle_minutes, row.lease_until, row.max_until)
        return LeaseWrite(until, InstanceState.IDLE, "the last job ended: warm window")
    return None


def _wake_at(facts: Facts, stops_pending: list) -> float:
    deadlines = [facts.now + facts.renew_seconds, facts.last_contact + facts.lease_minutes * 60.0]
    row = facts.row
    if row is not None:
        deadlines.append(row.max_until)
        if not facts.running:
            deadlines.append(row.lease_until)
    deadlines.extend(stops_pending)
    return max(facts.now, min(deadlines))


def decide(facts: Facts) -> Plan:
    reason = _power_off(facts)
    if reason is not None:
        return Plan(power_off=reason, detail=_power_off_detail(reason, facts), wake_at=facts.now)
    row = facts.row
    if row is None:  # never read yet
        return Plan(wake_at=_wake_at(facts, []))
    stops = _cost_stops(facts, row)
    stopped = {stop.job_id for stop in stops}
    pending = []
    for job_id in facts.running:
        job = facts.job_rows.get(job_id)
        if job_id in stopped or job_id in facts.stopping or job is None or job.max_cost_usd is None:
            continue
        if row.price_usd_hour > 0:
            started = facts.started_at.get(job_id, job.started_at)
            pending.append(cost_cap_time(started, job.max_cost_usd, row.price_usd_hour))
    write = _lease_write(facts, row) if facts.contact_ok else None
    return Plan(lease=write, stops=stops, wake_at=_wake_at(facts, pending))
