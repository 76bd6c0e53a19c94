"""What EC2's security groups admit between the sandbox's machines, read from moto: for every instance (the
destination), the ingress rules of every group on its network interfaces, with each rule's sources resolved to
addresses. `firewall.py` turns the result into nftables rules on the path between hosts.

As EC2 documents for a rule (IpPermission):
- `IpProtocol` is `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number; `-1` is every protocol.
- For tcp and udp, `FromPort`-`ToPort` is a port range. For icmp, `FromPort` is the ICMP type and `ToPort` the
  code, `-1` meaning any. Any other protocol number admits all its traffic, whatever range is given.
- A source is an IPv4 range (`IpRanges`), or a security group (`UserIdGroupPairs`): the private addresses of
  the instances whose interfaces carry that group.

Hosts have IPv4 addresses only, so `icmpv6` and `Ipv6Ranges` admit nothing here, and prefix lists (which name
AWS services, never a sandbox host) are left out too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ALL = "-1"
PROTOCOL_NAMES = {"tcp": "6", "udp": "17", "icmp": "1", "icmpv6": "58"}
PORTED = ("6", "17")  # tcp, udp: a port range applies
ICMP = "1"
ICMPV6 = "58"


@dataclass(frozen=True)
class Admission:
    """Traffic one rule admits to one host. `protocol`: an IANA number as text, or `-1` (all). `low`/`high`:
    the tcp/udp port range, or the ICMP type and code (None: any). `sources`: addresses and networks."""

    destination: str
    protocol: str
    low: int | None
    high: int | None
    sources: tuple[str, ...]


def instance_groups(instance: Mapping[str, Any]) -> set[str]:
    """The groups that filter an instance's traffic: those of its network interfaces (launched with
    `NetworkInterfaces`, an instance lists them there only) and those listed on the instance itself."""
    found = {group["GroupId"] for group in instance.get("SecurityGroups", []) if group.get("GroupId")}
    for interface in instance.get("NetworkInterfaces", []):
        found |= {group["GroupId"] for group in interface.get("Groups", []) if group.get("GroupId")}
    return found


def read_groups(ec2: Any, group_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Each group's ingress rules (`IpPermissions`). A filter, not `GroupIds`: a group deleted since the
    instances were read is simply absent, not an error."""
    wanted = sorted(set(group_ids))
    if not wanted:
        return {}
    found: dict[str, list[dict[str, Any]]] = {}
    pages = ec2.get_paginator("describe_security_groups").paginate(Filters=[{"Name": "group-id", "Values": wanted}])
    for page in pages:
        for group in page.get("SecurityGroups", []):
            found[group["GroupId"]] = list(group.get("IpPermissions", []))
    return found


def _protocol(permission: Mapping[str, Any]) -> str:
    value = str(permission.get("IpProtocol", ALL)).lower()
    return PROTOCOL_NAMES.get(value, value)


def _port(value: Any) -> int | None:
    return None if value is None or int(value) == -1 else int(value)


def _range(protocol: str, permission: Mapping[str, Any]) -> tuple[int | None, int | None]:
    if protocol not in (*PORTED, ICMP):
        return None, None  # every other protocol: all its traffic, whatever range is given
    low, high = _port(permission.get("FromPort")), _port(permission.get("ToPort"))
    if protocol in PORTED and low is not None and high is None:
        high = low
    return low, high


def _sources(permission: Mapping[str, Any], members: Mapping[str, list[str]]) -> tuple[str, ...]:
    """The rule's sources, none inside another (nftables refuses overlapping elements in one set); a /32 as
    an address."""
    found: set[ipaddress.IPv4Network] = set()
    for cidr in permission.get("IpRanges", []):
        if cidr.get("CidrIp"):
            found.add(ipaddress.IPv4Network(cidr["CidrIp"], strict=False))
    for pair in permission.get("UserIdGroupPairs", []):
        found.update(ipaddress.IPv4Network(address) for address in members.get(pair.get("GroupId", ""), []))
    kept: list[ipaddress.IPv4Network] = []
    for network in sorted(found, key=lambda net: net.prefixlen):  # widest first: what it covers is left out
        if not any(network.subnet_of(wider) for wider in kept):
            kept.append(network)
    return tuple(str(net.network_address) if net.prefixlen == 32 else str(net) for net in sorted(kept))


def admissions(instances: Iterable[Mapping[str, Any]], groups: Mapping[str, list[dict[str, Any]]]) -> list[Admission]:
    """Every (destination, rule) pair that admits something, in a stable order (so an unchanged account
    renders the same rules). An instance without a private address yet is neither source nor destination."""
    placed = [(str(i["PrivateIpAddress"]), instance_groups(i)) for i in instances if i.get("PrivateIpAddress")]
    members: dict[str, list[str]] = {}
    for address, group_ids in placed:
        for group_id in group_ids:
            members.setdefault(group_id, []).append(address)
    found: list[Admission] = []
    for address, group_ids in sorted(placed, key=lambda item: ipaddress.IPv4Address(item[0])):
        for group_id in sorted(group_ids):
            for permission in groups.get(group_id, []):
                protocol = _protocol(permission)
                sources = _sources(permission, members)
                if protocol == ICMPV6 or not sources:
                    continue
                low, high = _range(protocol, permission)
                admission = Admission(address, protocol, low, high, sources)
                if admission not in found:
                    found.append(admission)
    return found
