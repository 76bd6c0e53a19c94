"""Before a launch: does the security group let this client reach port 22 (pure rules), and which subnets
have a way out for the connect path."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from weatherballoon.cli.errors import ProvisionError
from weatherballoon.cli.providers.aws import routes
from weatherballoon.cli.providers.aws.reachability import SshIngress, check, judge

VPC = (IPv4Network("10.20.0.0/16"),)


def rule(cidr: str, protocol: str = "tcp", low: int | None = 22, high: int | None = 22) -> dict:
    found: dict = {"IpProtocol": protocol, "IpRanges": [{"CidrIp": cidr}]}
    if low is not None:
        found.update(FromPort=low, ToPort=high)
    return found


def ingress(*rules: dict) -> SshIngress:
    return SshIngress.of_group({"IpPermissions": list(rules)})


def test_only_rules_that_cover_tcp_22_count() -> None:
    found = ingress(
        rule("1.0.0.0/8"), rule("2.0.0.0/8", "tcp", 20, 30), rule("3.0.0.0/8", "-1", None),
        rule("4.0.0.0/8", "tcp", 80, 80), rule("5.0.0.0/8", "udp", 22, 22), rule("6.0.0.0/8", "6", 0, 65535),
    )  # fmt: skip
    assert [str(c) for c in found.cidrs] == ["1.0.0.0/8", "2.0.0.0/8", "3.0.0.0/8", "6.0.0.0/8"]
    pairs = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": "sg-1"}]}
    assert SshIngress.of_group({"IpPermissions": [pairs]}).groups == ("sg-1",)


@pytest.mark.parametrize("cidr", ["127.0.0.1/32", "10.0.0.0/8", "192.168.1.0/24", "169.254.0.0/16", "100.64.0.0/10"])
def test_public_ip_refuses_a_group_that_admits_no_public_address(cidr: str) -> None:
    verdict = judge(ingress(rule(cidr)), "public-ip", VPC, None)
    assert verdict.refusal is not None and cidr in verdict.refusal


def test_public_ip_refuses_a_group_with_no_ssh_rule_at_all() -> None:
    verdict = judge(ingress(rule("0.0.0.0/0", "tcp", 443, 443)), "public-ip", VPC, None)
    assert verdict.refusal is not None and "nothing" in verdict.refusal


def test_public_ip_behind_nat_cannot_be_checked_further_but_a_public_source_can() -> None:
    office = ingress(rule("81.2.69.0/24"))
    assert judge(office, "public-ip", VPC, IPv4Address("192.168.1.7")) == judge(office, "public-ip", VPC, None)
    assert judge(office, "public-ip", VPC, None).refusal is None
    assert judge(office, "public-ip", VPC, IPv4Address("81.2.69.9")).refusal is None
    outside = judge(office, "public-ip", VPC, IPv4Address("8.8.4.4"))
    assert outside.refusal is not None and "8.8.4.4" in outside.refusal
    assert judge(ingress(rule("0.0.0.0/0")), "public-ip", VPC, IPv4Address("8.8.4.4")).refusal is None


def test_private_ip_refuses_the_default_loopback_range() -> None:
    verdict = judge(ingress(rule("127.0.0.1/32")), "private-ip", VPC, None)
    assert verdict.refusal is not None and "127.0.0.1/32" in verdict.refusal


def test_private_ip_inside_the_vpc_must_be_admitted_outside_it_is_a_note() -> None:
    vpn = ingress(rule("10.99.0.0/16"))
    inside = judge(vpn, "private-ip", VPC, IPv4Address("10.20.3.4"))
    assert inside.refusal is not None and "10.20.3.4" in inside.refusal
    outside = judge(vpn, "private-ip", VPC, IPv4Address("192.168.0.5"))
    assert outside.refusal is None and outside.note is not None and "192.168.0.5" in outside.note
    assert judge(ingress(rule("10.20.0.0/16")), "private-ip", VPC, IPv4Address("10.20.3.4")) == judge(
        ingress(rule("10.20.0.0/16")), "private-ip", VPC, None
    )
    unknown = judge(vpn, "private-ip", VPC, IPv4Address("169.254.213.1"))  # link-local: not what the group sees
    assert (unknown.refusal, unknown.note) == (None, None)


def test_a_group_reference_or_a_prefix_list_is_taken_as_admitting() -> None:
    by_group = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": "sg-bastion"}]}
    assert (
        judge(SshIngress.of_group({"IpPermissions": [by_group]}), "private-ip", VPC, IPv4Address("10.20.1.1")).refusal
        is None
    )
    listed = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": "pl-1"}]}
    assert (
        judge(SshIngress.of_group({"IpPermissions": [listed]}), "public-ip", VPC, IPv4Address("8.8.4.4")).refusal
        is None
    )


def test_a_refusal_is_a_provision_error_with_the_fix() -> None:
    with pytest.raises(ProvisionError) as caught:
        check("sg-1", ingress(rule("127.0.0.1/32")), "public-ip", VPC, say=print, source=lambda _: None)
    assert caught.value.exit_code == 255 and "sg-1" in caught.value.message and "no launch" in caught.value.message
    assert "wb bootstrap --ssh-cidr" in (caught.value.hint or "")
    said: list[str] = []
    check("sg-1", ingress(rule("10.99.0.0/16")), "private-ip", VPC, say=said.append,
          source=lambda _: IPv4Address("192.168.0.5"))  # fmt: skip
    assert len(said) == 1 and said[0].startswith("note: ")


def table(*routes_: dict, main: bool = False, subnets: tuple[str, ...] = ()) -> dict:
    associations = [{"Main": True}] if main else []
    associations += [{"Main": False, "SubnetId": s} for s in subnets]
    return {
        "Associations": associations,
        "Routes": [{"DestinationCidrBlock": "10.20.0.0/16", "GatewayId": "local"}, *routes_],
    }


def test_a_subnet_uses_its_own_table_else_the_main_one() -> None:
    main = table(main=True)
    own = table({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1"}, subnets=("subnet-a",))
    found = routes.table_of_each(["subnet-a", "subnet-b"], [main, own])
    assert found == {"subnet-a": own, "subnet-b": main}


@pytest.mark.parametrize(
    ("route", "public", "private"),
    [
        ({"GatewayId": "igw-1"}, True, False),  # a public address needs the internet gateway...
        ({"NatGatewayId": "nat-1"}, False, True),  # ...a private one a NAT
        ({"TransitGatewayId": "tgw-1"}, False, True),
        ({"NetworkInterfaceId": "eni-1"}, False, True),  # a NAT instance
        ({"GatewayId": "igw-1", "State": "blackhole"}, False, False),
        ({"VpcPeeringConnectionId": "pcx-1"}, False, False),
        ({"GatewayId": "vgw-1"}, False, False),
    ],
)
def test_the_way_out_each_connect_path_needs(route: dict, public: bool, private: bool) -> None:
    default = {"DestinationCidrBlock": "0.0.0.0/0", **route}
    assert routes.has_way_out("public-ip", table(default)) is public
    assert routes.has_way_out("private-ip", table(default)) is private
    assert not routes.has_way_out("public-ip", table({**route, "DestinationCidrBlock": "10.0.0.0/8"}))
    assert not routes.has_way_out("private-ip", None)
