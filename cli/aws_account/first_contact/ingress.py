"""Who may reach the run's machines on port 22 (its stack's `SshIngressCidr`).

With `connect: private-ip` wb reaches machines from inside their VPC (or through a VPN into it): the VPC's
own range. With `public-ip`: this computer's public IPv4 address alone, as AWS's checkip service sees it
(the EC2 user guide points there to find it for a security group rule).
"""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request
from typing import Any

from ...errors import UsageError
from ..errors import translated

CHECKIP_URL = "https://checkip.amazonaws.com"
TIMEOUT_S = 5.0


def caller_public_ip(url: str = CHECKIP_URL, timeout_s: float = TIMEOUT_S) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            text = answer.read(64).decode("ascii", errors="replace").strip()
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(
            f"could not learn this computer's public IP address from {url}: {exc}",
            hint="pass --ssh-cidr A.B.C.D/32 (the address your SSH connections come from)",
        ) from None
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise UsageError(f"{url} answered {text!r}, not an IPv4 address", hint="pass --ssh-cidr A.B.C.D/32") from None


def vpc_cidr(ec2: Any, vpc_id: str) -> str:
    with translated(denied_hint="you need ec2:DescribeVpcs"):
        vpcs = ec2.describe_vpcs(VpcIds=[vpc_id]).get("Vpcs", [])
    if not vpcs:
        raise UsageError(f"no VPC {vpc_id} in this region", hint="check --vpc-id")
    return str(vpcs[0]["CidrBlock"])


def ssh_cidr(connect: str, ec2: Any, vpc_id: str, given: str | None, url: str = CHECKIP_URL) -> str:
    if given:
        try:
            return str(ipaddress.IPv4Network(given, strict=False))
        except ValueError:
            raise UsageError(f"--ssh-cidr {given!r} is not an IPv4 range such as 203.0.113.7/32") from None
    if connect == "private-ip":
        return vpc_cidr(ec2, vpc_id)
    return f"{caller_public_ip(url)}/32"
