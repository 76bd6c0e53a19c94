"""The rules the sandbox enforces between hosts, read from a real moto server: security groups and instances
made as wb makes them (a gang's self-referencing group, the stack's SSH rule from the endpoint's group), turned
into admissions (sandbox/security_groups.py) and nftables rules (sandbox/firewall.py), and the table applied to
this machine's nftables and removed again."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from typing import Any

import boto3
import pytest
from weatherballoon.sandbox import firewall, network, security_groups
from weatherballoon.sandbox.security_groups import Admission

from tests.integration.sandbox.conftest import sandbox_unavailable
from tests.integration.sandbox.support import IMAGE
from tests.support.requirements import unavailable

pytestmark = [pytest.mark.timeout(120)]


def describe(ec2: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] in ("pending", "running"):
                found[instance["InstanceId"]] = instance
    return found


def launch(ec2: Any, subnet: str, groups: list[str], count: int = 1) -> list[str]:
    """As the aws provider launches (launch.py): the groups on the network interface, not the instance."""
    answer = ec2.run_instances(
        ImageId=IMAGE, InstanceType="t3.micro", MinCount=count, MaxCount=count,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": groups}],
    )  # fmt: skip
    return [i["PrivateIpAddress"] for i in answer["Instances"]]


def admitted(ec2: Any) -> list[Admission]:
    instances = describe(ec2)
    wanted = set().union(*(security_groups.instance_groups(i) for i in instances.values()))
    return security_groups.admissions(instances.values(), security_groups.read_groups(ec2, wanted))


@pytest.fixture
def vpc(moto_endpoint: str) -> tuple[Any, str, str]:
    ec2 = boto3.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.77.0.0/20")["Subnet"]["SubnetId"]
    return ec2, vpc_id, subnet


def group(ec2: Any, vpc_id: str, name: str, *permissions: dict[str, Any]) -> str:
    group_id = str(ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)["GroupId"])
    if permissions:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=list(permissions))
    return group_id


def test_a_gang_group_admits_its_members_only_and_the_endpoints_ssh_rule_admits_no_host(vpc: Any) -> None:
    ec2, vpc_id, subnet = vpc
    eice = group(ec2, vpc_id, "eice")
    stack = group(ec2, vpc_id, "stack", {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                         "UserIdGroupPairs": [{"GroupId": eice}]})  # fmt: skip
    gang = group(ec2, vpc_id, "gang")
    ec2.authorize_security_group_ingress(
        GroupId=gang, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": gang}]}]
    )
    ranks = launch(ec2, subnet, [stack, gang], count=3)
    outsider = launch(ec2, subnet, [stack])[0]

    found = admitted(ec2)
    members = tuple(sorted(ranks, key=lambda a: tuple(map(int, a.split(".")))))
    assert found == [Admission(rank, "-1", None, None, members) for rank in members]
    assert all(outsider not in a.sources and a.destination != outsider for a in found)

    script = firewall.ruleset("abc123", "wbabc123", found)
    for rank in ranks:
        assert f"ip daddr {rank} ip saddr {{ {', '.join(members)} }} accept" in script
    assert outsider not in script
    assert script.rstrip().endswith("counter drop\n  }\n}".rstrip())
    assert 'iifname "wbabc123*" oifname "wbabc123*" jump between_hosts' in script

    # the gang's rule revoked: nothing is admitted any more
    ec2.revoke_security_group_ingress(
        GroupId=gang, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": gang}]}]
    )
    assert admitted(ec2) == []


def test_cidr_ranges_ports_and_icmp_become_their_own_matches(vpc: Any) -> None:
    ec2, vpc_id, subnet = vpc
    rules = group(
        ec2, vpc_id, "rules",
        {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8000, "IpRanges": [{"CidrIp": "10.77.0.0/24"}]},
        {"IpProtocol": "udp", "FromPort": 1000, "ToPort": 2000, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.77.0.0/16"}]},
        {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
    )  # fmt: skip
    [address] = launch(ec2, subnet, [rules])

    found = admitted(ec2)
    assert found == [
        Admission(address, "6", 8000, 8000, ("10.77.0.0/24",)),
        Admission(address, "17", 1000, 2000, ("0.0.0.0/0",)),
        Admission(address, "1", 8, None, ("10.77.0.0/16",)),
    ]  # icmpv6 admits nothing to an IPv4 host
    script = firewall.ruleset("abc123", "wbabc123", found)
    assert f"ip daddr {address} ip saddr 10.77.0.0/24 tcp dport 8000 accept" in script
    assert f"ip daddr {address} ip saddr 0.0.0.0/0 udp dport 1000-2000 accept" in script
    assert f"ip daddr {address} ip saddr 10.77.0.0/16 meta l4proto icmp icmp type 8 accept" in script


def test_a_protocol_number_admits_all_its_traffic_and_overlapping_sources_merge() -> None:
    # moto's server refuses a rule with a bare protocol number (500), so this one is written as EC2 returns it
    instances = [
        {"PrivateIpAddress": "10.5.0.4", "NetworkInterfaces": [{"Groups": [{"GroupId": "sg-a"}]}]},
        {"PrivateIpAddress": "10.5.0.5", "SecurityGroups": [{"GroupId": "sg-a"}]},
    ]
    groups = {"sg-a": [{"IpProtocol": "47", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.5.0.0/16"}],
                        "UserIdGroupPairs": [{"GroupId": "sg-a"}]}]}  # fmt: skip
    found = security_groups.admissions(instances, groups)
    assert found == [Admission(a, "47", None, None, ("10.5.0.0/16",)) for a in ("10.5.0.4", "10.5.0.5")]
    assert "ip daddr 10.5.0.4 ip saddr 10.5.0.0/16 meta l4proto 47 accept" in firewall.ruleset("x", "wbx", found)


def nft_table(name: str) -> str:
    return subprocess.run(["nft", "list", "table", "ip", name], capture_output=True, text=True, check=False).stdout


@pytest.mark.netns
def test_the_table_is_applied_replaced_only_on_change_and_removed(vpc: Any) -> None:
    if os.geteuid() != 0:
        unavailable("nftables needs root")
    ec2, vpc_id, subnet = vpc
    gang = group(ec2, vpc_id, "gang")
    ec2.authorize_security_group_ingress(
        GroupId=gang, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": gang}]}]
    )
    sandbox_id = secrets.token_hex(3)
    table = firewall.table_name(sandbox_id)
    wall = firewall.Firewall(ec2, sandbox_id, f"wb{sandbox_id}")
    try:
        wall.start()
        assert "counter packets 0 bytes 0 drop" in nft_table(table)
        assert "ip daddr" not in nft_table(table)
        ranks = launch(ec2, subnet, [gang], count=2)
        assert wall.sync(describe(ec2)) is True
        listed = nft_table(table)
        assert all(f"ip daddr {rank}" in listed for rank in ranks)
        assert "ct state established,related accept" in listed
        assert wall.sync(describe(ec2)) is False  # nothing changed: the table is left alone
        ec2.revoke_security_group_ingress(
            GroupId=gang, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": gang}]}]
        )
        assert wall.sync(describe(ec2)) is True
        assert "ip daddr" not in nft_table(table)
    finally:
        wall.stop()
    assert nft_table(table) == ""
    firewall.remove(sandbox_id)  # idempotent: a second removal finds nothing and says nothing


SERVE = """\
import socket
import sys

servers = [socket.create_server((sys.argv[1], int(port))) for port in sys.argv[2:]]
print("listening", flush=True)
while True:
    for server in servers:
        server.settimeout(0.05)
        try:
            peer, _ = server.accept()
        except TimeoutError:
            continue
        with peer:
            peer.sendall(b"hello\\n")
"""
CONNECT = """\
import socket
import sys

with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as peer:
    print(peer.makefile().readline().strip())
"""


def reaches(namespace: str, address: str, port: int) -> bool:
    """A TCP connection from the namespace that gets the listener's line back; False when it times out."""
    argv = ["ip", "netns", "exec", namespace, sys.executable, "-c", CONNECT, address, str(port)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 or "timed out" in done.stderr, done.stderr  # dropped, never refused
    return done.returncode == 0 and done.stdout.strip() == "hello"


@pytest.mark.netns
def test_hosts_in_namespaces_get_what_the_groups_admit_one_way_with_replies_and_changes_within_a_sync(
    vpc: Any,
) -> None:
    """Two hosts made as the sandbox makes them (network.create, routed through this machine): the server's
    group admits one tcp port from the client's group, the client's admits nothing."""
    why = sandbox_unavailable()
    if why:
        unavailable(f"sandbox: {why}")
    ec2, _, _ = vpc
    block = network.free_network()
    vpc_id = ec2.create_vpc(CidrBlock=str(block))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=str(next(block.subnets(new_prefix=20))))["Subnet"]["SubnetId"]
    client_group = group(ec2, vpc_id, "client")
    port = 40000 + secrets.randbelow(20000)
    admit = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": client_group}]}
    server_group = group(ec2, vpc_id, "server", admit)
    [server] = launch(ec2, subnet, [server_group])
    [client] = launch(ec2, subnet, [client_group])
    sandbox_id = secrets.token_hex(3)
    links = [network.names_for(f"wbsbx-{sandbox_id}-", f"wb{sandbox_id}", name) for name in ("server", "client")]
    wall = firewall.Firewall(ec2, sandbox_id, f"wb{sandbox_id}")
    made: list[network.HostLink] = []
    listeners: list[subprocess.Popen[str]] = []
    network.fence(str(block))
    try:
        for (namespace, near, far), address in zip(links, (server, client), strict=True):
            made.append(network.create(namespace, address, near, far, fence=str(block)))
            serve = [
                *("ip", "netns", "exec", namespace),
                sys.executable,
                "-c",
                SERVE,
                address,
                str(port),
                str(port + 1),
            ]
            listeners.append(subprocess.Popen(serve, stdout=subprocess.PIPE, text=True))
            assert listeners[-1].stdout is not None and listeners[-1].stdout.readline().strip() == "listening"
        server_ns, client_ns = made[0].namespace, made[1].namespace
        wall.start()
        assert wall.sync(describe(ec2)) is True

        assert reaches(client_ns, server, port)  # admitted, and its reply comes back (stateful)
        assert not reaches(client_ns, server, port + 1)  # another port
        assert not reaches(server_ns, client, port)  # the other way: the client's group admits nothing

        ec2.authorize_security_group_ingress(GroupId=server_group, IpPermissions=[{**admit, "ToPort": port + 1}])
        assert wall.sync(describe(ec2)) is True
        assert reaches(client_ns, server, port + 1)
    finally:
        for listener in listeners:
            listener.kill()
            listener.wait(10)
        for link in made:
            network.remove(link)
        network.remove_fence(str(block))
        wall.stop()
