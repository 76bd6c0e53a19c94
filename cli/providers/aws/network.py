"""Where an instance goes: its security group (the stack's, or the seed's `group1` by name or id) and one
subnet per availability zone of that group's VPC."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...aws.errors import translated
from ...errors import ConfigError, ProvisionError


@dataclass(frozen=True)
class Placement:
    group_id: str
    vpc_id: str
    subnets: Mapping[str, str]  # availability zone -> subnet id


def _describe_group(ec2: Any, group: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    key = "group-id" if group.startswith("sg-") else "group-name"
    with translated(denied_hint="you need ec2:DescribeSecurityGroups"):
        try:
            found = ec2.describe_security_groups(Filters=[{"Name": key, "Values": [group]}])["SecurityGroups"]
        except ClientError as exc:
            if "InvalidGroup" not in str(exc):
                raise
            found = []
    if len(found) > 1:
        vpcs = ", ".join(sorted(g["VpcId"] for g in found))
        raise ConfigError(
            f"security group name {group!r} exists in several VPCs ({vpcs})",
            key="provisioner.group1",
            hint="give the group's id (sg-...) instead of its name",
        )
    return found[0] if found else None


def _best_subnet(subnets: list[dict[str, Any]]) -> dict[str, Any]:
    def key(subnet: dict[str, Any]) -> tuple[bool, bool, int]:
        return (
            bool(subnet.get("DefaultForAz")),
            bool(subnet.get("MapPublicIpOnLaunch")),
            int(subnet.get("AvailableIpAddressCount", 0)),
        )

    return max(subnets, key=key)


def placement(ec2: Any, group: str, *, configured: bool) -> Placement:
    """The group (configured `group1`, else the stack's) and a subnet per zone of its VPC."""
    found = _describe_group(ec2, group)
    if found is None:
        if configured:
            raise ConfigError(
                f"no security group {group!r} in this region",
                key="provisioner.group1",
                hint="give an existing group's name or id, or remove the key to use the stack's group",
            )
        raise ProvisionError(
            f"the stack's security group {group} is gone",
            hint="an admin runs `wb bootstrap` to restore the stack",
        )
    vpc_id = str(found["VpcId"])
    with translated(denied_hint="you need ec2:DescribeSubnets"):
        subnets = ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "state", "Values": ["available"]}]
        )["Subnets"]
    by_zone: dict[str, list[dict[str, Any]]] = {}
    for subnet in subnets:
        by_zone.setdefault(subnet["AvailabilityZone"], []).append(subnet)
    chosen = {zone: str(_best_subnet(items)["SubnetId"]) for zone, items in sorted(by_zone.items())}
    if not chosen:
        raise ProvisionError(
            f"the VPC {vpc_id} of security group {found['GroupId']} has no subnets",
            hint="create subnets in it, or use a group of a VPC that has some (provisioner.group1)",
        )
    return Placement(group_id=str(found["GroupId"]), vpc_id=vpc_id, subnets=chosen)
