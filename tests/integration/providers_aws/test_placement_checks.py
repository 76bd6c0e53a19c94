"""Before RunInstances, against moto: a security group that would shut this client out of port 22, or a VPC
whose subnets have no way out for the connect path, stops the launch with the fix, and nothing is launched;
among subnets, only those with a way out are used (provisioner.subnet pins one)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from weatherballoon.cli.errors import ConfigError, ProvisionError
from weatherballoon.cli.providers.records import InstanceSpec

from tests.integration.providers_aws.conftest import BootEmulator, World


def group_admitting(ec2: Any, vpc_id: str, cidr: str, name: str) -> str:
    group = ec2.create_security_group(GroupName=name, Description="wb test", VpcId=vpc_id)["GroupId"]
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh])
    return str(group)


def launches() -> int:
    return sum(len(r["Instances"]) for r in boto3.client("ec2").describe_instances()["Reservations"])


def default_vpc(ec2: Any) -> str:
    return str(ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"])


@pytest.mark.parametrize("connect", ["public-ip", "private-ip"])
def test_a_group_that_admits_only_loopback_stops_the_launch(world: World, connect: str) -> None:
    """What a default bootstrap gives (SshIngressCidr 127.0.0.1/32): nobody could ever connect."""
    ec2 = boto3.client("ec2")
    vpc = custom_vpc(ec2)[0] if connect == "public-ip" else default_vpc(ec2)  # each with a way out for its path
    group_admitting(ec2, vpc, "127.0.0.1/32", f"closed-{connect}")
    before = launches()
    with pytest.raises(ProvisionError) as caught:
        world.provider(world.project(group1=f"closed-{connect}", connect=connect)).acquire(InstanceSpec())
    assert caught.value.exit_code == 255
    assert "no launch" in caught.value.message and "127.0.0.1/32" in caught.value.message
    assert "wb bootstrap --ssh-cidr" in (caught.value.hint or "")
    assert launches() == before


def custom_vpc(ec2: Any) -> tuple[str, str, str]:
    """A VPC with a private subnet (local route only) and a public one (its own table, routed to an internet
    gateway), as a hand-made VPC often is. Returns (vpc, private subnet, public subnet)."""
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24", AvailabilityZone="us-west-2a")["Subnet"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.2.0/24", AvailabilityZone="us-west-2b")["Subnet"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    ec2.associate_route_table(RouteTableId=table, SubnetId=public["SubnetId"])
    return vpc, private["SubnetId"], public["SubnetId"]


def test_public_ip_launches_only_into_a_subnet_routed_to_an_internet_gateway(
    world: World, booting: BootEmulator
) -> None:
    ec2 = boto3.client("ec2")
    vpc, _, public = custom_vpc(ec2)
    group_admitting(ec2, vpc, "0.0.0.0/0", "open-custom")
    instance = world.provider(world.project(group1="open-custom", connect="public-ip")).acquire(InstanceSpec()).instance
    raw = ec2.describe_instances(InstanceIds=[instance.id])["Reservations"][0]["Instances"][0]
    assert raw["SubnetId"] == public


def test_private_ip_in_a_vpc_without_a_nat_stops_the_launch_naming_the_subnets(world: World) -> None:
    ec2 = boto3.client("ec2")
    vpc, private, public = custom_vpc(ec2)
    group_admitting(ec2, vpc, "10.50.0.0/16", "vpc-only")
    before = launches()
    with pytest.raises(ProvisionError) as caught:
        world.provider(world.project(group1="vpc-only", connect="private-ip")).acquire(InstanceSpec())
    message = caught.value.message
    assert f"no subnet of VPC {vpc} has a default route (0.0.0.0/0) through a NAT gateway" in message
    assert private in message and public in message  # the internet gateway does nothing without a public IP
    assert "NAT gateway" in (caught.value.hint or "") and "provisioner.subnet" in (caught.value.hint or "")
    assert launches() == before


def test_a_pinned_subnet_without_a_way_out_is_used_with_a_note(world: World, booting: BootEmulator) -> None:
    ec2 = boto3.client("ec2")
    vpc, private, _ = custom_vpc(ec2)
    group_admitting(ec2, vpc, "10.50.0.0/16", "pinned")
    loaded = world.project(group1="pinned", connect="private-ip", subnet=private)
    instance = world.provider(loaded).acquire(InstanceSpec()).instance
    raw = ec2.describe_instances(InstanceIds=[instance.id])["Reservations"][0]["Instances"][0]
    assert raw["SubnetId"] == private
    assert any(m.startswith(f"note: subnet {private} lacks a default route") for m in world.messages), world.messages


def test_a_pinned_subnet_outside_the_groups_vpc_is_a_config_error(world: World) -> None:
    ec2 = boto3.client("ec2")
    _, private, _ = custom_vpc(ec2)
    with pytest.raises(ConfigError) as caught:
        world.provider(world.project(subnet=private)).acquire(InstanceSpec())  # the stack's group: default VPC
    assert caught.value.exit_code == 2 and caught.value.key == "provisioner.subnet" and private in caught.value.message
