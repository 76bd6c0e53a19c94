"""Is this instance type real here, may members launch it, and what does it cost?

moto (and a typo) accept any type name, so the type is checked with DescribeInstanceTypes before anything
is launched; an unknown one is answered with the closest names this region offers.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from weatherballoon.lambdas.errors import PriceLookupError
from weatherballoon.lambdas.prices import load_prices

from ...aws_account.errors import error_code, translated
from ...errors import UsageError


@dataclass(frozen=True)
class TypeInfo:
    name: str
    architectures: tuple[str, ...]


def describe_type(ec2: Any, name: str, region: str) -> TypeInfo:
    """The type's facts, or a UsageError that suggests near names offered in `region`."""
    from botocore.exceptions import ClientError

    with translated(denied_hint="you need ec2:DescribeInstanceTypes"):
        try:
            answer = ec2.describe_instance_types(InstanceTypes=[name])
        except ClientError as exc:
            if error_code(exc) not in ("InvalidInstanceType", "InvalidParameterValue"):
                raise
            answer = {"InstanceTypes": []}
    found = answer.get("InstanceTypes", [])
    if not found:
        close = difflib.get_close_matches(name, offered_types(ec2), n=4, cutoff=0.6)
        raise UsageError(
            f"{region} has no instance type {name!r}" + (f"; did you mean {', '.join(close)}?" if close else ""),
            hint="set provisioner.instanceType or pass -t; list them with: "
            "aws ec2 describe-instance-type-offerings --query 'InstanceTypeOfferings[].InstanceType'",
        )
    raw = found[0]
    return TypeInfo(
        name=name,
        architectures=tuple(raw.get("ProcessorInfo", {}).get("SupportedArchitectures", ["x86_64"])),
    )


def offered_types(ec2: Any) -> list[str]:
    names: set[str] = set()
    with translated(denied_hint="you need ec2:DescribeInstanceTypeOfferings"):
        for page in ec2.get_paginator("describe_instance_type_offerings").paginate(LocationType="region"):
            names.update(item["InstanceType"] for item in page.get("InstanceTypeOfferings", []))
    return sorted(names)


def zones_offering(ec2: Any, name: str) -> list[str]:
    """Availability zones (not local or wavelength zones) that offer the type, by name."""
    with translated(denied_hint="you need ec2:DescribeInstanceTypeOfferings and ec2:DescribeAvailabilityZones"):
        zones = ec2.describe_availability_zones(
            Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}, {"Name": "state", "Values": ["available"]}]
        )["AvailabilityZones"]
        offered: set[str] = set()
        paginator = ec2.get_paginator("describe_instance_type_offerings")
        pages = paginator.paginate(
            LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [name]}]
        )
        for page in pages:
            offered.update(item["Location"] for item in page.get("InstanceTypeOfferings", []))
    return sorted(z["ZoneName"] for z in zones if z["ZoneName"] in offered)


def check_allowed(name: str, allowed: Sequence[str], region: str) -> None:
    """Refuse, before AWS does with a bare UnauthorizedOperation, a type the stack does not let members launch."""
    if not allowed or any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
        return
    raise UsageError(
        f"the weatherballoon stack in {region} does not allow {name}; allowed: {', '.join(allowed)}",
        hint="pick one of those with -t, or ask an admin to add it: wb bootstrap --allowed-types ...",
    )


def on_demand_price(region: str, name: str) -> float:
    """USD per hour from the shipped price table; a type it cannot price could not be held to a budget."""
    table = load_prices()
    try:
        return table.on_demand(region, name)
    except PriceLookupError as exc:
        raise UsageError(
            f"{exc}: budgets could not count its cost, so wb does not launch it",
            hint="pick a type the price table knows (pass -t), or refresh the table (lambdas/prices.json)",
        ) from None


def alternatives(name: str, allowed: Sequence[str], limit: int = 3) -> list[str]:
    """Other types worth trying when `name` has no capacity: exact names the stack allows, nearest first."""
    exact = [pattern for pattern in allowed if not any(c in pattern for c in "*?[") and pattern != name]
    exact.sort(key=lambda other: -difflib.SequenceMatcher(None, name, other).ratio())
    return exact[:limit]
