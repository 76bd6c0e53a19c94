"""The supervision stack in the sandbox's moto, deployed by the real `wb bootstrap` code (plan + deploy),
and what `wb sandbox status` shows of it: the table and the bucket. (The reaper timer finds every stack's
reaper function by itself, see `reaper_timer`.)"""

from __future__ import annotations

import io
import json
import random
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from weatherballoon.cli.aws_account.events import StackEvent
from weatherballoon.cli.aws_account.session import AwsSession

from .eice.endpoint import SandboxEndpoint
from .errors import SandboxError
from .records import SandboxOptions

POLL_S = 0.25  # moto settles at once; the real CloudFormation is polled every 3 s


@dataclass(frozen=True)
class StackFacts:
    table_name: str
    bucket: str


class _LogSink:
    """Stack events as daemon log lines (the daemon has no terminal)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def events(self, events: Sequence[StackEvent]) -> None:
        for event in events:
            self.say(f"stack event: {event.logical_id} {event.status}")

    def waiting(self, status: str) -> None:
        pass


def sandbox_vpc(ec2: Any, block: IPv4Network) -> str:
    """A VPC over `block` with one subnet per zone (random /20s of it), for wb's security group: instances
    then take their private IPs from `block`, which `network.free_network` found unused on this machine.
    (moto's default VPC is 172.31.0.0/16 in every sandbox, and hands out .4, .5, ... in order.)

    Its subnets are private, as where `connect: private-ip` belongs: a NAT gateway and the main route table's
    0.0.0.0/0 route to it are their way out (what wb checks before a launch); the hosts' real way out is
    the relay to moto."""
    tags = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "wb-sandbox"}]}]
    vpc_id = str(ec2.create_vpc(CidrBlock=str(block), TagSpecifications=tags)["Vpc"]["VpcId"])
    zones = [zone["ZoneName"] for zone in ec2.describe_availability_zones()["AvailabilityZones"]]
    subnets = list(block.subnets(new_prefix=min(28, block.prefixlen + 4)))
    made = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=str(subnet), AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for zone, subnet in zip(zones, random.sample(subnets, min(len(zones), len(subnets))), strict=False)
    ]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=made[0], AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    main = next(t for t in tables if any(a.get("Main") for a in t.get("Associations", [])))
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    return vpc_id


def bootstrap(
    aws: AwsSession, options: SandboxOptions, vpc_id: str, endpoint: SandboxEndpoint, say: Callable[[str], None]
) -> StackFacts:
    """`wb bootstrap --lease-minutes M --idle-minutes M --vpc-id VPC --eice-id ID --eice-security-group SG` into
    the sandbox's moto: SSH reaches hosts only through the sandbox's Instance Connect Endpoint (moto's
    CloudFormation cannot make one, so the stack is given the sandbox's, as an admin gives an existing one)."""
    from weatherballoon.cli.aws_account.deploy import apply
    from weatherballoon.cli.aws_account.plan import BootstrapRequest, prepare

    request = BootstrapRequest(lease_minutes=options.lease_minutes, idle_minutes=options.idle_minutes, vpc_id=vpc_id,
                               eice_id=endpoint.endpoint_id, eice_group=endpoint.group_id)  # fmt: skip
    deployment = prepare(aws, request)
    outcome = apply(deployment, aws, _LogSink(say), say, poll_s=POLL_S)
    if outcome.stack is None:
        raise SandboxError("wb bootstrap deployed no stack into the sandbox")
    return StackFacts(table_name=outcome.stack.output("TableName"), bucket=outcome.stack.output("BucketName"))


def publish_powertools_layer(lambda_client: Any, template: dict[str, Any]) -> str | None:
    """Publish the public Powertools layer the template names, up to the version it names, as AWS has it
    (moto checks that a function's layers exist). Returns the layer name, or None when the template names
    none. The layer's content does not matter: moto never runs the function; the sandbox runs the handler."""
    layers = json.dumps(template["Resources"]["ReaperFunction"]["Properties"].get("Layers", ""))
    found = re.search(r"layer:([A-Za-z0-9_-]+):\$\{PowertoolsLayerVersion\}", layers)
    if not found:
        return None
    version = int(template["Parameters"]["PowertoolsLayerVersion"]["Default"])
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as archive:
        archive.writestr("python/aws_lambda_powertools/__init__.py", "")
    name = found.group(1)
    have = len(lambda_client.list_layer_versions(LayerName=name).get("LayerVersions", []))
    for _ in range(have, version):
        lambda_client.publish_layer_version(LayerName=name, Content={"ZipFile": content.getvalue()})
    return name
