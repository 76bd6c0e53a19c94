"""Where an instance goes: its security group (the stack's, or the seed's `group1` by name or id) and one
subnet per availability zone of that group's VPC (or the one `provisioner.subnet` names), among the subnets
with a way out for the connect path (routes.py); and what the group admits on port 22 (reachability.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import Any

from ...aws_account.errors import translated
from ...errors import ConfigError, ProvisionError
from . import routes
from .reachability import SshIngress, vpc_ranges


@dataclass(frozen=True)
class Placement:
    group_id: str
    vpc_id: str
    subnets: Mapping[str, str]  # availability zone -> subnet id
    ssh: SshIngress = field(default_factory=SshIngress)
    vpc_cidrs: tuple[IPv4Network, ...] = ()


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


def placement(
    ec2: Any,
    group: str,
    *,
    configured: bool,
    connect: str = "public-ip",
    subnet: str | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Placement:
    """The group (configured `group1`, else the stack's) and a subnet per zone of its VPC that has a way out."""
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
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "state", "Values": ["available"]}]
    if subnet:
        filters.append({"Name": "subnet-id", "Values": [subnet]})
    with translated(denied_hint="you need ec2:DescribeSubnets"):
        subnets = ec2.describe_subnets(Filters=filters)["Subnets"]
    if subnet and not subnets:
        raise ConfigError(
            f"no available subnet {subnet!r} in VPC {vpc_id} (the VPC of security group {found['GroupId']})",
            key="provisioner.subnet",
            hint="name a subnet of that VPC, or remove the key to let wb choose one",
        )
    if not subnets:
        raise ProvisionError(
            f"the VPC {vpc_id} of security group {found['GroupId']} has no subnets",
            hint="create subnets in it, or use a group of a VPC that has some (provisioner.group1)",
        )
    tables = routes.table_of_each([s["SubnetId"] for s in subnets], routes.route_tables(ec2, vpc_id))
    usable = [s for s in subnets if routes.has_way_out(connect, tables[s["SubnetId"]])]
    if subnet and not usable:  # pinned by the user: said, not refused (e.g. VPC endpoints instead of a NAT)
        say(f"note: subnet {subnet} lacks {routes.NEEDS[connect]}; the machine may not reach AWS or PyPI")
        usable = subnets
    if not usable:
        raise ProvisionError(
            f"no subnet of VPC {vpc_id} has {routes.NEEDS[connect]} (connect: {connect}): "
            + ", ".join(sorted(s["SubnetId"] for s in subnets)),
            hint=_no_way_out_hint(connect),
        )
    by_zone: dict[str, list[dict[str, Any]]] = {}
    for item in usable:
        by_zone.setdefault(item["AvailabilityZone"], []).append(item)
    chosen = {zone: str(_best_subnet(items)["SubnetId"]) for zone, items in sorted(by_zone.items())}
    with translated(denied_hint="you need ec2:DescribeVpcs"):
        vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    return Placement(
        group_id=str(found["GroupId"]),
        vpc_id=vpc_id,
        subnets=chosen,
        ssh=SshIngress.of_group(found),
        vpc_cidrs=vpc_ranges(vpcs[0]) if vpcs else (),
    )


def _no_way_out_hint(connect: str) -> str:
    if connect == "public-ip":
        return (
            "an instance with a public address needs its subnet routed to an internet gateway: use a public "
            'subnet (provisioner.subnet), or connect from inside the VPC with "connect": "private-ip" and a '
            "NAT gateway"
        )
    return (
        "an instance without a public address reaches AWS and PyPI through a NAT: add a NAT gateway and a "
        "0.0.0.0/0 route to it in the subnets' route table, or name a subnet that has one (provisioner.subnet)"
    )
