"""What EC2 says about wb's instances, as typed facts (the owner always comes from the `wb:owner` tag)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from weatherballoon.lambdas import schema, tags

from ...aws_account.errors import translated

LIVE_STATES = ("pending", "running", "stopping", "stopped")
GONE_STATES = frozenset({"shutting-down", "terminated"})


@dataclass(frozen=True)
class Ec2Instance:
    instance_id: str
    state: str
    instance_type: str
    zone: str
    launched_at: float
    public_ip: str | None = None
    private_ip: str | None = None
    spot: bool = False
    state_reason: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return self.labels.get(tags.OWNER, "")

    @property
    def gone(self) -> bool:
        return self.state in GONE_STATES

    def arn(self, region: str, account: str) -> str:
        return schema.instance_arn(region, account, self.instance_id)

    def address(self, connect: str) -> str | None:
        # A tunnel through the Instance Connect Endpoint reaches the private address too.
        return self.private_ip if connect in ("private-ip", "eice") else self.public_ip


def from_description(raw: dict[str, Any]) -> Ec2Instance:
    reason = raw.get("StateReason", {}).get("Message") or raw.get("StateTransitionReason") or None
    return Ec2Instance(
        instance_id=raw["InstanceId"],
        state=raw["State"]["Name"],
        instance_type=raw.get("InstanceType", ""),
        zone=raw.get("Placement", {}).get("AvailabilityZone", ""),
        launched_at=raw["LaunchTime"].timestamp(),
        public_ip=raw.get("PublicIpAddress") or None,
        private_ip=raw.get("PrivateIpAddress") or None,
        spot=raw.get("InstanceLifecycle") == "spot",
        state_reason=reason,
        labels=tags.tags_from_aws(raw.get("Tags")),
    )


def describe(
    ec2: Any,
    *,
    owner: str | None = None,
    states: Sequence[str] | None = None,
    instance_type: str | None = None,
    ids: Sequence[str] | None = None,
) -> list[Ec2Instance]:
    """wb-managed instances matching the filters, oldest launch first."""
    from botocore.exceptions import ClientError

    filters: list[dict[str, Any]] = [dict(tags.MANAGED_FILTER)]
    if owner:
        filters.append({"Name": "tag:" + tags.OWNER, "Values": [owner]})
    if states:
        filters.append({"Name": "instance-state-name", "Values": list(states)})
    if instance_type:
        filters.append({"Name": "instance-type", "Values": [instance_type]})
    kwargs: dict[str, Any] = {"Filters": filters}
    if ids:
        kwargs["InstanceIds"] = list(ids)
    found: list[Ec2Instance] = []
    with translated(denied_hint="you need ec2:DescribeInstances"):
        try:
            for page in ec2.get_paginator("describe_instances").paginate(**kwargs):
                for reservation in page.get("Reservations", []):
                    found.extend(from_description(raw) for raw in reservation.get("Instances", []))
        except ClientError as exc:
            if ids and "InvalidInstanceID" in str(exc):
                return []
            raise
    return sorted(found, key=lambda item: (item.launched_at, item.instance_id))
