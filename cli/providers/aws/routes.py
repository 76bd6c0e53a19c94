"""Which subnets have a way out, read from their route tables (DescribeRouteTables): an instance in a subnet
without one boots, but never installs boto3 nor reaches the table, and sits there billing until its timers
end it.

The way out depends on how the client connects (`provisioner.connect`):
- `public-ip`: the instance gets a public address, so its subnet needs a default route (0.0.0.0/0) to an
  internet gateway (`igw-`);
- `private-ip`: it gets none, so an internet gateway does nothing for it; it needs a default route through
  a NAT gateway, a NAT instance (an instance or its network interface), a transit gateway, a local gateway
  or a core network.

A subnet uses the route table explicitly associated with it, else its VPC's main table. A route in state
`blackhole` (its target is gone) leads nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...aws_account.errors import translated

DEFAULT_ROUTE = "0.0.0.0/0"
NAT_TARGETS = ("NatGatewayId", "InstanceId", "NetworkInterfaceId", "TransitGatewayId", "LocalGatewayId",
               "CoreNetworkArn")  # fmt: skip
NEEDS = {
    "public-ip": "a default route (0.0.0.0/0) to an internet gateway",
    "private-ip": "a default route (0.0.0.0/0) through a NAT gateway (or NAT instance, transit gateway)",
}


def route_tables(ec2: Any, vpc_id: str) -> list[dict[str, Any]]:
    with translated(denied_hint="you need ec2:DescribeRouteTables"):
        pages = ec2.get_paginator("describe_route_tables").paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        return [table for page in pages for table in page.get("RouteTables", [])]


def table_of_each(subnet_ids: Iterable[str], tables: list[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """Each subnet's route table: the one associated with it, else the VPC's main one (None: neither found)."""
    explicit: dict[str, dict[str, Any]] = {}
    main = None
    for table in tables:
        for association in table.get("Associations", []):
            if association.get("Main"):
                main = table
            elif association.get("SubnetId"):
                explicit[association["SubnetId"]] = table
    return {subnet: explicit.get(subnet, main) for subnet in subnet_ids}


def ways_out(table: Mapping[str, Any] | None) -> set[str]:
    """`igw` and/or `nat`: the kinds of active default route this table has."""
    found: set[str] = set()
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") != DEFAULT_ROUTE or route.get("State", "active") != "active":
            continue
        if str(route.get("GatewayId", "")).startswith("igw-"):
            found.add("igw")
        if any(route.get(target) for target in NAT_TARGETS):
            found.add("nat")
    return found


def has_way_out(connect: str, table: Mapping[str, Any] | None) -> bool:
    return ("igw" if connect == "public-ip" else "nat") in ways_out(table)
