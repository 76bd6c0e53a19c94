"""Before anything is created: who and where, whether the region is free for a throwaway stack, the cheapest
machine the run may use, how machines will be reached, and the plan with its worst-case cost. Reads only.

A region is free when it holds no other wb stack and no live wb instance. Every wb reaper oversees every
wb instance of its region: another stack's reaper would take the run's machines for orphans, and the run's
reaper, whose owner budget it trips on purpose, would end that owner's other machines. So the run never
shares a region with a team's stack; it refuses and names one to pick instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from weatherballoon.lambdas.errors import PriceLookupError
from weatherballoon.lambdas.prices import load_prices

from ...errors import UsageError
from ..errors import translated
from ..fleet import default_vpc, live_instances
from ..parameters import ALLOWED_TYPES, split_list
from .clients import ClientSettings
from .ingress import CHECKIP_URL, ssh_cidr
from .names import RunNames, is_doctor_stack, new_names
from .plan import Plan, Rate, Timing, cheapest_type, make_plan

if TYPE_CHECKING:
    from ...config.model import WbConfig
    from ..session import AwsSession, CallerIdentity

WB_OUTPUTS = ("WbVersion", "ReaperFunctionName")
MIN_ROOT_GB = 8


@dataclass(frozen=True)
class Options:
    """`wb doctor --live`'s flags."""

    cap_usd: float
    lease_minutes: float = 1.0
    idle_minutes: float = 1.0
    vpc_id: str | None = None
    ssh_cidr: str | None = None
    checkip_url: str = CHECKIP_URL


@dataclass(frozen=True)
class Preflight:
    identity: CallerIdentity
    names: RunNames
    plan: Plan
    clients: ClientSettings
    vpc_id: str
    ssh_cidr: str
    allowed_types: tuple[str, ...]

    def lines(self) -> list[str]:
        return [
            f"as {self.identity.arn} in {self.names.region} (account {self.identity.account})",
            f"stack {self.names.stack} (its own team, staging bucket and project), VPC {self.vpc_id}, "
            f"port 22 open to {self.ssh_cidr} (connect: {self.clients.connect})",
            *self.plan.lines(),
        ]


def wb_stacks(cfn: Any) -> list[str]:
    """Names of the region's wb stacks: any stack with wb's outputs, and any earlier run's stack."""
    found = []
    with translated(denied_hint="you need cloudformation:DescribeStacks"):
        for page in cfn.get_paginator("describe_stacks").paginate():
            for stack in page.get("Stacks", []):
                keys = {o.get("OutputKey") for o in stack.get("Outputs", []) or []}
                if keys & set(WB_OUTPUTS) or is_doctor_stack(stack["StackName"]):
                    found.append(f"{stack['StackName']} ({stack['StackStatus']})")
    return sorted(found)


def refuse_shared_region(aws: AwsSession) -> None:
    stacks = wb_stacks(aws.client("cloudformation"))
    if stacks:
        raise UsageError(
            f"{aws.region} already has a wb stack: {', '.join(stacks)}. A first-contact run deploys a stack of its "
            "own, and two stacks' reapers would each take the other's machines for orphans",
            hint="run it in a region with no wb stack (--region); an earlier run's wb-doctor-* stack is removed "
            "with: aws cloudformation delete-stack --stack-name NAME",
        )
    live = live_instances(aws.client("ec2"))
    if live:
        shown = ", ".join(f"{i.instance_id} (owner {i.owner})" for i in live[:10])
        raise UsageError(
            f"{aws.region} has {len(live)} live wb instance(s): {shown}; the run's reaper would end them",
            hint="run it in a region with no wb instances (--region)",
        )


def template_allowed_types(template: dict[str, Any]) -> tuple[str, ...]:
    return tuple(split_list(str(template["Parameters"][ALLOWED_TYPES].get("Default", ""))))


def priced_types(region: str) -> list[tuple[str, float]]:
    table = load_prices()
    names = set(table.known_types()) | set(table.regions.get(region, {}))
    priced = []
    for name in sorted(names):
        try:
            priced.append((name, table.on_demand(region, name)))
        except PriceLookupError:
            continue
    if not priced:
        raise UsageError(f"wb's price table has no prices for {region}", hint="run it in another region (--region)")
    return priced


def root_volume_gb(ec2: Any, instance_type: str, region: str, ami: str | None) -> int:
    """The root volume a launch of this type gets: the image's snapshot size (the provider never goes below)."""
    from ...providers.aws.catalog import describe_type
    from ...providers.aws.images import configured_image, latest_dlami

    if ami:
        image = configured_image(ec2, ami, None)
    else:
        image = latest_dlami(ec2, describe_type(ec2, instance_type, region).architectures, region)
    return max(MIN_ROOT_GB, image.root_snapshot_gb)


def run_preflight(aws: AwsSession, options: Options, user: WbConfig | None) -> Preflight:
    from ...providers.aws.catalog import offered_types
    from ..template import shipped_template

    identity = aws.identity()
    region = aws.region
    refuse_shared_region(aws)
    ec2 = aws.client("ec2")
    allowed = template_allowed_types(shipped_template())
    instance_type, price = cheapest_type(priced_types(region), allowed, set(offered_types(ec2)), region)
    mine = user.provisioner if user is not None and user.provisioner.kind == "aws" else None
    # Its own stack opens port 22 to a range (--ssh-cidr): the eice path is not what it deploys.
    connect = (mine.connect if mine else None) or "public-ip"
    ami = mine.os.ami if mine else None
    volume = root_volume_gb(ec2, instance_type, region, ami)
    vpc_id = options.vpc_id or default_vpc(ec2, region)
    cidr = ssh_cidr(connect, ec2, vpc_id, options.ssh_cidr, options.checkip_url)
    timing = Timing(lease_s=options.lease_minutes * 60.0, idle_s=options.idle_minutes * 60.0)
    plan = make_plan(timing, Rate(instance_type, price, volume, connect == "public-ip"), options.cap_usd)
    longest = sum(step.deadline_s for step in plan.steps) + timing.end_s
    clients = ClientSettings(
        region=region,
        stack="",  # named below, once the run has its names
        instance_type=instance_type,
        connect=connect,
        username=mine.os.username if mine else "ubuntu",
        root_volume_gb=volume,
        lease_minutes=options.lease_minutes,
        idle_minutes=options.idle_minutes,
        max_hours=math.ceil(longest / 360.0) / 10.0,  # the machines' lifetime cap, in tenths of an hour
        ami=ami,
        cred=str(aws.settings.cred_file.resolve()) if aws.settings.cred_file else None,
    )
    names = new_names(identity.account, region)
    return Preflight(identity, names, plan, replace(clients, stack=names.stack), vpc_id, cidr, allowed)
