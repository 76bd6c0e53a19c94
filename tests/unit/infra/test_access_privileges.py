"""Who may reach a wb machine (docs/iam.md, "Access"), proven with the offline evaluator over the synthesized
template: a key only to one's own machine (admins: any wb machine), a tunnel only through the stack's
Instance Connect Endpoint, only to port 22, for at most the endpoint's longest tunnel."""

from __future__ import annotations

from typing import Any

import pytest
from weatherballoon.infra.policy_eval import Decision

from tests.unit.infra.iam_world import ACCOUNT, ADMIN, ALICE, ALICES, BOB, BOBS, PARAMETERS, REGION, UNMANAGED, World

ALLOW, IMPLICIT_DENY = Decision.ALLOW, Decision.IMPLICIT_DENY
PUSH_KEY = "ec2-instance-connect:SendSSHPublicKey"
OPEN_TUNNEL = "ec2-instance-connect:OpenTunnel"
GIVEN_ENDPOINT = "eice-0fedcba9876543210"


def endpoint_arn(endpoint_id: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance-connect-endpoint/{endpoint_id}"


def tunnel(world: World, endpoint_id: str, *, port: int = 22, duration: int = 3600, ip: str = "10.0.3.7") -> Decision:
    context = {
        "ec2-instance-connect:remotePort": str(port),
        "ec2-instance-connect:maxTunnelDuration": str(duration),
        "ec2-instance-connect:privateIpAddress": ip,
    }
    return world.any_action(world.member, ALICE, OPEN_TUNNEL, endpoint_arn(endpoint_id), **context)


@pytest.fixture(scope="module")
def stack_endpoint(world: World) -> str:
    return str(world.deployed.physical_name("InstanceConnectEndpoint"))


def test_member_a_cannot_push_a_key_to_bs_machine(world: World) -> None:
    assert world.on_instance(world.member, ALICE, PUSH_KEY, ALICES) is ALLOW
    assert world.on_instance(world.member, ALICE, PUSH_KEY, BOBS) is IMPLICIT_DENY
    assert world.on_instance(world.member, BOB, PUSH_KEY, ALICES) is IMPLICIT_DENY


def test_an_admin_may_push_a_key_to_any_wb_machine_and_no_other(world: World) -> None:
    for instance in (ALICES, BOBS):
        assert world.on_instance(world.admin, ADMIN, PUSH_KEY, instance) is ALLOW
    assert world.on_instance(world.admin, ADMIN, PUSH_KEY, UNMANAGED) is IMPLICIT_DENY


def test_a_member_tunnels_through_the_stacks_endpoint_to_port_22(world: World, stack_endpoint: str) -> None:
    assert tunnel(world, stack_endpoint) is ALLOW
    assert tunnel(world, stack_endpoint, duration=60) is ALLOW


@pytest.mark.parametrize("port", [3389, 80, 2222])
def test_nobody_tunnels_to_a_port_other_than_22(world: World, stack_endpoint: str, port: int) -> None:
    assert tunnel(world, stack_endpoint, port=port) is IMPLICIT_DENY
    context = {"ec2-instance-connect:remotePort": str(port), "ec2-instance-connect:maxTunnelDuration": "60"}
    assert world.any_action(world.admin, ADMIN, OPEN_TUNNEL, endpoint_arn(stack_endpoint), **context) is IMPLICIT_DENY


def test_nobody_tunnels_through_another_endpoint_or_longer_than_an_hour(world: World, stack_endpoint: str) -> None:
    # An endpoint of some other VPC reaches machines that are not wb's: no statement names it.
    assert tunnel(world, GIVEN_ENDPOINT) is IMPLICIT_DENY
    assert tunnel(world, stack_endpoint, duration=3601) is IMPLICIT_DENY


def test_with_a_given_endpoint_tunnels_go_through_it_alone(template_json: dict[str, Any]) -> None:
    world = World(
        template_json,
        {
            **PARAMETERS,
            "InstanceConnectEndpointId": GIVEN_ENDPOINT,
            "InstanceConnectEndpointSecurityGroupId": "sg-0aaaabbbbccccdddd",
        },
    )
    assert tunnel(world, GIVEN_ENDPOINT) is ALLOW
    assert tunnel(world, GIVEN_ENDPOINT, port=3389) is IMPLICIT_DENY


def test_with_cidr_access_no_tunnel_is_allowed_at_all(template_json: dict[str, Any], stack_endpoint: str) -> None:
    world = World(template_json, {**PARAMETERS, "SshAccess": "cidr"})
    # (Its policy names the impossible id "none", which no EC2 endpoint id matches.)
    for endpoint_id in (stack_endpoint, GIVEN_ENDPOINT, "eice-00000000000000000"):
        assert tunnel(world, endpoint_id) is IMPLICIT_DENY
