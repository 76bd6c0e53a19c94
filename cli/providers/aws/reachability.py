"""Will the client reach port 22 of the machine it is about to launch? Checked before RunInstances against the
security group's ingress rules (DescribeSecurityGroups), so a closed door costs nothing: no machine that
boots, waits, times out and bills.

What the group must admit depends on the path (`provisioner.connect`):
- `public-ip`: SSH arrives from the client's public address, which cannot be learned offline behind NAT. So
  some rule must admit a public range; a private, loopback or link-local range (the stack's default
  `SshIngressCidr` is 127.0.0.1/32) admits nobody on this path. When this machine's own outgoing address
  is public (no NAT in between), a rule must contain it.
- `private-ip`: SSH arrives from inside the VPC, or a network joined to it (peering, VPN). Some rule must
  admit a routable range or another security group. When this machine's outgoing address toward the VPC
  lies inside the VPC, it is exactly what the group sees, and a rule must contain it (or name a group).
  Outside the VPC a VPN may translate it: then a mismatch is only a note.

Only IPv4 counts (wb connects to the instance's IPv4 address). Rules naming a managed prefix list are
taken as admitting (their entries are not read).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ...errors import ProvisionError

SSH_PORT = 22
CGNAT = IPv4Network("100.64.0.0/10")
UNROUTABLE = (IPv4Network("127.0.0.0/8"), IPv4Network("169.254.0.0/16"), IPv4Network("0.0.0.0/8"))
PUBLIC_PROBE = "198.51.100.1"  # a documentation address: only the routing decision is asked for, nothing is sent


@dataclass(frozen=True)
class SshIngress:
    """Who a security group lets reach port 22 over TCP (IPv4)."""

    cidrs: tuple[IPv4Network, ...] = ()
    groups: tuple[str, ...] = ()
    prefix_lists: tuple[str, ...] = ()

    @classmethod
    def of_group(cls, group: Mapping[str, Any]) -> SshIngress:
        cidrs: list[IPv4Network] = []
        groups: list[str] = []
        prefix_lists: list[str] = []
        for rule in group.get("IpPermissions", []):
            if not _covers_ssh(rule):
                continue
            for entry in rule.get("IpRanges", []):
                try:
                    cidrs.append(IPv4Network(entry["CidrIp"], strict=False))
                except (KeyError, ValueError):
                    continue
            groups += [pair["GroupId"] for pair in rule.get("UserIdGroupPairs", []) if pair.get("GroupId")]
            prefix_lists += [e["PrefixListId"] for e in rule.get("PrefixListIds", []) if e.get("PrefixListId")]
        return cls(tuple(cidrs), tuple(groups), tuple(prefix_lists))

    def admits(self, address: IPv4Address) -> bool:
        return any(address in cidr for cidr in self.cidrs)

    def describe(self) -> str:
        parts = [str(c) for c in self.cidrs] + list(self.groups) + list(self.prefix_lists)
        return ", ".join(parts) if parts else "nothing"


def _covers_ssh(rule: Mapping[str, Any]) -> bool:
    protocol = str(rule.get("IpProtocol", ""))
    if protocol == "-1":
        return True
    if protocol not in ("tcp", "6"):
        return False
    low, high = rule.get("FromPort"), rule.get("ToPort")
    return low is not None and high is not None and (low == -1 or int(low) <= SSH_PORT <= int(high))


def admits_public(cidr: IPv4Network) -> bool:
    """Whether the range holds any public address (0.0.0.0/0 does; 10.0.0.0/8 or 127.0.0.1/32 do not)."""
    return not (cidr.is_private or cidr.subnet_of(CGNAT) or cidr.is_multicast or cidr.is_reserved)


def routable(cidr: IPv4Network) -> bool:
    return not any(cidr.subnet_of(block) for block in UNROUTABLE)


def local_source(destination: str) -> IPv4Address | None:
    """The address this machine would send from toward `destination` (a UDP connect sends nothing), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((destination, SSH_PORT))
            return IPv4Address(probe.getsockname()[0])
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Judgement:
    refusal: str | None = None  # why the client cannot get in: nothing is launched
    note: str | None = None  # a doubt worth saying


def judge(ingress: SshIngress, connect: str, vpc_cidrs: Sequence[IPv4Network], local: IPv4Address | None) -> Judgement:
    """The pure decision (the module docstring's rules)."""
    unresolved = bool(ingress.prefix_lists)
    admitted = ingress.describe()
    if connect == "public-ip":
        if not any(admits_public(c) for c in ingress.cidrs) and not unresolved:
            return Judgement(
                refusal=f"it admits SSH only from {admitted}, and on the public-ip path SSH comes from this "
                "client's public address"
            )
        if local is not None and local.is_global and not ingress.admits(local) and not unresolved:
            return Judgement(refusal=f"it admits SSH from {admitted}, not from this machine's address {local}")
        return Judgement()
    usable = [c for c in ingress.cidrs if routable(c)]
    if not usable and not ingress.groups and not unresolved:
        return Judgement(
            refusal=f"it admits SSH only from {admitted}, which no client in or joined to the VPC comes from"
        )
    if local is None or not routable(IPv4Network(local)) or ingress.admits(local) or ingress.groups or unresolved:
        return Judgement()
    if any(local in vpc for vpc in vpc_cidrs):
        return Judgement(refusal=f"it admits SSH from {admitted}, not from this machine's address {local} in the VPC")
    return Judgement(
        note=f"this machine's address {local} is not among the ranges the security group admits SSH from "
        f"({admitted}); that works only if your path into the VPC translates it"
    )


def fix_hint(connect: str, vpc_cidrs: Iterable[IPv4Network]) -> str:
    vpc = ", ".join(str(c) for c in vpc_cidrs) or "the VPC's range"
    if connect == "public-ip":
        return (
            "an admin opens port 22 to your public address: wb bootstrap --ssh-cidr <your address>/32 "
            "(curl https://checkip.amazonaws.com shows it); or run from inside the VPC with "
            '"connect": "private-ip" under provisioner; or name a group that admits you (provisioner.group1)'
        )
    return (
        f"an admin opens port 22 to the range you connect from: wb bootstrap --ssh-cidr {vpc} (or your VPN's); "
        "or name a group that admits you (provisioner.group1)"
    )


def check(
    group_id: str,
    ingress: SshIngress,
    connect: str,
    vpc_cidrs: Sequence[IPv4Network],
    *,
    say: Callable[[str], None],
    source: Callable[[str], IPv4Address | None] = local_source,
) -> None:
    """ProvisionError (nothing launched) when the client cannot get in; a notice when it may not."""
    probe = PUBLIC_PROBE if connect == "public-ip" else str(vpc_cidrs[0].network_address + 4) if vpc_cidrs else None
    local = source(probe) if probe else None
    verdict = judge(ingress, connect, vpc_cidrs, local)
    if verdict.refusal is not None:
        raise ProvisionError(
            f"no launch: this client could not reach port 22 of the machine through security group {group_id} "
            f"(connect: {connect}): {verdict.refusal}",
            hint=fix_hint(connect, vpc_cidrs),
        )
    if verdict.note is not None:
        say(f"note: {verdict.note}")


def vpc_ranges(vpc: Mapping[str, Any]) -> tuple[IPv4Network, ...]:
    """A VPC's IPv4 ranges (its primary and associated blocks) from DescribeVpcs."""
    associated = [
        a["CidrBlock"]
        for a in vpc.get("CidrBlockAssociationSet", [])
        if a.get("CidrBlockState", {}).get("State", "associated") == "associated"
    ]
    found = []
    for block in associated or [vpc.get("CidrBlock", "")]:
        try:
            found.append(ipaddress.IPv4Network(block, strict=False))
        except ValueError:
            continue
    return tuple(found)
