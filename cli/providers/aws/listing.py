"""EC2 facts plus instance rows become the provider-neutral `Instance` records commands show."""

from __future__ import annotations

from weatherballoon.lambdas import gang
from weatherballoon.lambdas.meter import MeterRecord
from weatherballoon.lambdas.records import InstanceRecord, InstanceState

from ..records import Instance, SshTarget
from .instances import Ec2Instance

PROVIDER = "aws"

# What the reaper's reasons (lambdas.decision.Reason) mean to the person whose machine went away.
EXPLAINED = {
    "marked": "termination was requested (wb down, or an admin)",
    "owner-budget": "the owner's monthly budget is used up (see: wb costs)",
    "team-budget": "the team's monthly budget is used up (see: wb costs --all)",
    "max-lifetime": "the instance reached supervision.maxHours",
    "stopped": "it was stopped; wb never stops a machine, so supervision ended it",
    "job-max-cost": "a job passed its --max-cost",
    "job-max-time": "a job passed its --max-time",
    "lease-expired": "its lease lapsed: nothing renewed it",
    "orphan": "it had no supervision row (a launch that did not finish)",
}


def explain(reason: str) -> str:
    meaning = EXPLAINED.get(reason)
    return f"{reason}: {meaning}" if meaning else reason


def reap_reason(ec2: Ec2Instance | None, row: InstanceRecord | None) -> str | None:
    """Why supervision took (or is taking) the machine away; None while nothing is ending it."""
    if row is not None:
        if row.reap_reason:
            return explain(row.reap_reason)
        if row.mark:
            return f"marked: {row.mark}"
        if row.state in (InstanceState.TERMINATING, InstanceState.CLOSED):
            return f"supervision row is {row.state.value}"
    if ec2 is not None and ec2.gone:
        return f"instance {ec2.state}" + (f" ({ec2.state_reason})" if ec2.state_reason else "")
    return None


def estimated_cost(
    ec2: Ec2Instance, row: InstanceRecord | None, now: float, meter: MeterRecord | None = None
) -> float | None:
    """What the reaper has charged so far (its meter), plus the time since at the meter's price while the
    machine runs; before the reaper's first run, the row's launch price since launch."""
    running = not ec2.gone and ec2.state in ("pending", "running")
    if meter is not None:
        since = max(0.0, now - meter.accrual_start) if running else 0.0
        return meter.accrued_usd + since / 3600.0 * meter.price_usd_hour
    if row is None:
        return None
    return max(0.0, now - row.launched_at) / 3600.0 * row.price_usd_hour if running else 0.0


def cost_note(meter: MeterRecord | None) -> str | None:
    if meter is not None and meter.price.unpriced:
        return f"unpriced: {meter.instance_type} is charged a fallback ${meter.price_usd_hour:g}/h"
    return None


def to_instance(
    ec2: Ec2Instance,
    row: InstanceRecord | None,
    *,
    connect: str,
    username: str,
    now: float,
    running_jobs: tuple[str, ...] = (),
    meter: MeterRecord | None = None,
) -> Instance:
    state = ec2.state if ec2.gone or row is None or row.closed else row.state.value
    target = SshTarget(
        host=ec2.address(connect) or "",
        port=22,
        username=str((row.extra.get("username") if row else None) or username),
        host_key_fingerprint=row.host_key_fingerprint if row else None,
    )
    return Instance(
        id=ec2.instance_id,
        provider=PROVIDER,
        target=target,
        state=state,
        instance_type=ec2.instance_type,
        owner=ec2.owner,
        launched_at=ec2.launched_at,
        lease_until=None if ec2.gone or row is None else row.lease_until,
        est_cost_usd=estimated_cost(ec2, row, now, meter),
        reap_reason=reap_reason(ec2, row),
        running_jobs=running_jobs,
        cost_note=cost_note(meter),
        gang=ec2.labels.get(gang.GANG) or None,
        gang_rank=_rank(row),
        gang_size=gang.declared_size(ec2.labels) if ec2.labels.get(gang.GANG) else None,
    )


def _rank(row: InstanceRecord | None) -> int | None:
    raw = row.extra.get("gang_rank") if row is not None else None
    try:
        return None if raw is None else int(raw)
    except (TypeError, ValueError):
        return None
