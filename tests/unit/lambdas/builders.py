"""Small constructors for model records, shared by the lambdas unit tests."""

from __future__ import annotations

from typing import Any

from weatherballoon.lambdas import tags
from weatherballoon.lambdas.decision import InstanceFacts
from weatherballoon.lambdas.meter import MeterRecord, Price, PriceSource
from weatherballoon.lambdas.records import InstanceRecord, InstanceState, JobRow
from weatherballoon.lambdas.schema import instance_arn

REGION = "us-east-1"
ACCOUNT = "123456789012"
T0 = 1_790_000_000.0  # 2026-09-21T...Z, a fixed "launch" instant


def arn(instance_id: str) -> str:
    return instance_arn(REGION, ACCOUNT, instance_id)


def facts(
    instance_id: str = "i-0001",
    *,
    owner: str = "AIDAALICE",
    team: str | None = "ml",
    state: str = "running",
    launched_at: float = T0,
    managed: bool = True,
    instance_type: str = "g5.xlarge",
    extra_tags: dict[str, str] | None = None,
    spot: bool = False,
    zone: str = "us-east-1a",
    first_attached_at: float | None = None,
    volumes_kept_on_termination: tuple[str, ...] = (),
) -> InstanceFacts:
    tag_map = tags.wb_tags(owner, team or "", "proj") if managed else {"Name": "not-wb", tags.OWNER: owner}
    if team is None:
        tag_map.pop(tags.TEAM, None)
    tag_map.update(extra_tags or {})
    return InstanceFacts(
        instance_id, state, launched_at, instance_type, REGION, ACCOUNT, tag_map, spot=spot, zone=zone,
        first_attached_at=first_attached_at, volumes_kept_on_termination=volumes_kept_on_termination,
    )  # fmt: skip


def row(instance_id: str = "i-0001", **changes: Any) -> InstanceRecord:
    base = InstanceRecord(
        owner="AIDAALICE",
        instance_arn=arn(instance_id),
        instance_type="g5.xlarge",
        launched_at=T0,
        lease_until=T0 + 300,
        max_until=T0 + 24 * 3600,
        price_usd_hour=1.006,
        team="ml",
        project="proj",
        state=InstanceState.BUSY,
    )
    return base.replace(**changes) if changes else base


def job(instance_id: str = "i-0001", job_id: str = "j1", **changes: Any) -> JobRow:
    base = JobRow("AIDAALICE", arn(instance_id), job_id, ("python", "train.py"), started_at=T0 + 10)
    return base.replace(**changes) if changes else base


def meter(instance_id: str = "i-0001", **changes: Any) -> MeterRecord:
    """A reaper meter as the first sight of `facts(instance_id)` would make it (on-demand g5.xlarge)."""
    base = MeterRecord(
        instance_arn=arn(instance_id),
        owner="AIDAALICE",
        team="ml",
        instance_type="g5.xlarge",
        spot=False,
        price=Price(1.006, PriceSource.TABLE),
        lifetime_start=T0,
        first_seen=T0 + 30,
    )
    return base.replace(**changes) if changes else base
