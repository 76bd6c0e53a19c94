"""What bootstrap needs to know about EC2: wb's live instances (destroy refuses while any exist), the
default VPC, and whether instance types exist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from weatherballoon.lambdas import tags

from ..errors import AwsError, UsageError
from .errors import error_code, translated

LIVE_STATES = ("pending", "running", "stopping", "stopped")
DESCRIBE_TYPES_MAX = 100


@dataclass(frozen=True)
class LiveInstance:
    instance_id: str
    state: str
    instance_type: str
    owner: str


def live_instances(ec2: Any) -> list[LiveInstance]:
    """wb-tagged instances that are not terminated or on their way out."""
    found: list[LiveInstance] = []
    filters = [tags.MANAGED_FILTER, {"Name": "instance-state-name", "Values": list(LIVE_STATES)}]
    with translated(denied_hint="you need ec2:DescribeInstances"):
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    labels = tags.tags_from_aws(instance.get("Tags"))
                    found.append(
                        LiveInstance(
                            instance_id=instance["InstanceId"],
                            state=instance["State"]["Name"],
                            instance_type=instance.get("InstanceType", ""),
                            owner=labels.get(tags.OWNER, "?"),
                        )
                    )
    return sorted(found, key=lambda i: i.instance_id)


def default_vpc(ec2: Any, region: str) -> str:
    with translated(denied_hint="you need ec2:DescribeVpcs"):
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}]).get("Vpcs", [])
    if not vpcs:
        raise AwsError(
            f"{region} has no default VPC for wb's security group",
            code="NoDefaultVpc",
            hint="pass --vpc-id vpc-... (a VPC whose subnets give instances a route to the internet)",
        )
    return str(vpcs[0]["VpcId"])


def unknown_instance_types(ec2: Any, names: Sequence[str]) -> list[str]:
    """The exact names (not the `g5.*` patterns) that EC2 does not know in this region."""
    from botocore.exceptions import ClientError

    exact = sorted({n for n in names if not any(c in n for c in "*?")})
    unknown: list[str] = []
    for start in range(0, len(exact), DESCRIBE_TYPES_MAX):
        chunk = exact[start : start + DESCRIBE_TYPES_MAX]
        with translated(denied_hint="you need ec2:DescribeInstanceTypes"):
            try:
                answer = ec2.describe_instance_types(InstanceTypes=chunk)
            except ClientError as exc:
                if error_code(exc) != "InvalidInstanceType":
                    raise
                known = _known_one_by_one(ec2, chunk)
            else:
                known = {t["InstanceType"] for t in answer.get("InstanceTypes", [])}
        unknown.extend(n for n in chunk if n not in known)
    return unknown


def _known_one_by_one(ec2: Any, names: Sequence[str]) -> set[str]:
    from botocore.exceptions import ClientError

    known = set()
    for name in names:
        try:
            ec2.describe_instance_types(InstanceTypes=[name])
            known.add(name)
        except ClientError as exc:
            if error_code(exc) != "InvalidInstanceType":
                raise
    return known


def check_instance_types(ec2: Any, names: Sequence[str], region: str) -> None:
    unknown = unknown_instance_types(ec2, names)
    if unknown:
        raise UsageError(
            f"--allowed-types: {region} has no instance type {', '.join(unknown)}",
            hint="list them with: aws ec2 describe-instance-types --query 'InstanceTypes[].InstanceType'",
        )
