"""Gang networking, proven over the synthesized template: a member's gang has a security group and a cluster
placement group of its own, that only the member's own gang machines can join (infra/gang_policies.py).

Requests carry the context keys the service authorization reference lists for each action: CreateSecurityGroup
is authorized on the new group (request tags) and on the VPC; CreatePlacementGroup on the new group (request
tags, ec2:PlacementGroupStrategy); tags given at creation also need ec2:CreateTags with ec2:CreateAction; a
launch into a gang names the gang's group and placement group as resources, with their tags as
ec2:ResourceTag keys.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from weatherballoon.infra.policy_eval import Decision, PolicyDocument, Request, authorize
from weatherballoon.lambdas import gang, tags

from tests.unit.infra.iam_world import ACCOUNT, ADMIN, ALICE, BOB, REGION, TEAM, Caller, World

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY
EC2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"


def gang_resource_tags(owner: Caller, gang_id: str = "g-1", team: str = TEAM) -> dict[str, str]:
    return {tags.MANAGED: tags.MANAGED_VALUE, tags.OWNER: owner.userid, tags.TEAM: team, gang.GANG: gang_id}


ALICES_GANG = gang_resource_tags(ALICE)
BOBS_GANG = gang_resource_tags(BOB, "g-2")
STACK_GROUP: dict[str, str] = {}  # the stack's instance group carries no wb tags


def resource_tags(tag_map: Mapping[str, str]) -> dict[str, str]:
    return {
        **{f"ec2:ResourceTag/{k}": v for k, v in tag_map.items()},
        **{f"aws:ResourceTag/{k}": v for k, v in tag_map.items()},
    }


def create(
    policies: list[PolicyDocument], caller: Caller, kind: str, request_tags: Mapping[str, str], **keys: str
) -> Decision:
    """CreateSecurityGroup (kind security-group) or CreatePlacementGroup (placement-group), tagged at creation."""
    tagging = {**{f"aws:RequestTag/{k}": v for k, v in request_tags.items()}, "aws:TagKeys": list(request_tags)}
    action = "ec2:CreateSecurityGroup" if kind == "security-group" else "ec2:CreatePlacementGroup"
    requests = [Request(action, f"{EC2}:{kind}/*", caller.context(**tagging, **keys))]
    if kind == "security-group":
        requests.append(Request(action, f"{EC2}:vpc/vpc-0123456789abcdef0", caller.context()))
    create_action = action.split(":")[1]
    requests.append(
        Request("ec2:CreateTags", f"{EC2}:{kind}/*", caller.context(**tagging, **{"ec2:CreateAction": create_action}))
    )
    return authorize(policies, requests)


def on_group(policies: list[PolicyDocument], caller: Caller, action: str, group_tags: Mapping[str, str]) -> Decision:
    return authorize(
        policies, [Request(action, f"{EC2}:security-group/sg-0gang", caller.context(**resource_tags(group_tags)))]
    )


def launch_into_gang(
    world: World, caller: Caller, group_tags: Mapping[str, str], placement_tags: Mapping[str, str]
) -> Decision:
    """A gang member's RunInstances: the wb launch, plus the gang's group and placement group as resources."""
    launch_tags = {**tags.wb_tags(caller.userid, TEAM, "proj", "wb"), **gang.gang_tags("g-1", 3)}
    base = world.launch(world.member, caller, launch_tags=launch_tags)
    if base is not ALLOW:
        return base
    return authorize(
        world.member,
        [
            Request("ec2:RunInstances", f"{EC2}:security-group/sg-0gang", caller.context(**resource_tags(group_tags))),
            Request(
                "ec2:RunInstances", f"{EC2}:placement-group/wb-g-1", caller.context(**resource_tags(placement_tags))
            ),
        ],
    )


# --- creating ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["security-group", "placement-group"])
def test_member_creates_gang_resources_tagged_as_themselves(world: World, kind: str) -> None:
    keys = {"ec2:PlacementGroupStrategy": "cluster"} if kind == "placement-group" else {}
    assert create(world.member, ALICE, kind, ALICES_GANG, **keys) is ALLOW


@pytest.mark.parametrize("kind", ["security-group", "placement-group"])
@pytest.mark.parametrize(
    "wrong",
    [
        {tags.OWNER: BOB.userid},
        {tags.TEAM: "other-team"},
        {tags.MANAGED: "false"},
        {"WB:OWNER": ALICE.userid},  # a case variant the reaper and EC2 would not see as the owner tag
        {"cost-center": "x"},  # a key outside the allowlist
    ],
    ids=["other-owner", "other-team", "unmanaged", "case-variant", "extra-key"],
)
def test_member_cannot_create_gang_resources_tagged_otherwise(world: World, kind: str, wrong: dict) -> None:
    keys = {"ec2:PlacementGroupStrategy": "cluster"} if kind == "placement-group" else {}
    assert create(world.member, ALICE, kind, {**ALICES_GANG, **wrong}, **keys) is IMPLICIT_DENY


@pytest.mark.parametrize("kind", ["security-group", "placement-group"])
def test_member_cannot_create_gang_resources_without_a_gang_id(world: World, kind: str) -> None:
    keys = {"ec2:PlacementGroupStrategy": "cluster"} if kind == "placement-group" else {}
    untagged = {k: v for k, v in ALICES_GANG.items() if k != gang.GANG}
    assert create(world.member, ALICE, kind, untagged, **keys) is IMPLICIT_DENY
    assert create(world.member, ALICE, kind, {}, **keys) is IMPLICIT_DENY


@pytest.mark.parametrize("strategy", ["spread", "partition"])
def test_placement_groups_are_cluster_only(world: World, strategy: str) -> None:
    assert (
        create(world.member, ALICE, "placement-group", ALICES_GANG, **{"ec2:PlacementGroupStrategy": strategy})
        is IMPLICIT_DENY
    )


def test_member_cannot_tag_a_group_after_creation(world: World) -> None:
    context = ALICE.context(**{f"aws:RequestTag/{tags.OWNER}": ALICE.userid, "aws:TagKeys": [tags.OWNER]})
    assert (
        authorize(world.member, [Request("ec2:CreateTags", f"{EC2}:security-group/sg-0stack", context)])
        is IMPLICIT_DENY
    )


# --- rules and deletion -------------------------------------------------------------------------------------

RULE_ACTIONS = ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"]


@pytest.mark.parametrize("action", RULE_ACTIONS)
def test_member_changes_only_their_own_gang_groups(world: World, action: str) -> None:
    assert on_group(world.member, ALICE, action, ALICES_GANG) is ALLOW
    assert on_group(world.member, ALICE, action, BOBS_GANG) is IMPLICIT_DENY
    assert on_group(world.member, ALICE, action, STACK_GROUP) is IMPLICIT_DENY
    not_a_gang = {k: v for k, v in ALICES_GANG.items() if k != gang.GANG}
    assert on_group(world.member, ALICE, action, not_a_gang) is IMPLICIT_DENY


@pytest.mark.parametrize("action", ["ec2:AuthorizeSecurityGroupEgress", "ec2:ModifySecurityGroupRules"])
def test_member_has_no_other_rule_actions(world: World, action: str) -> None:
    assert on_group(world.member, ALICE, action, ALICES_GANG) is IMPLICIT_DENY


def test_member_deletes_only_their_own_placement_groups(world: World) -> None:
    def delete(owner_tags: Mapping[str, str]) -> Decision:
        context = ALICE.context(**resource_tags(owner_tags))
        return authorize(world.member, [Request("ec2:DeletePlacementGroup", f"{EC2}:placement-group/wb-g", context)])

    assert delete(ALICES_GANG) is ALLOW
    assert delete(BOBS_GANG) is IMPLICIT_DENY
    assert delete({}) is IMPLICIT_DENY


# --- joining a gang: only one's own machines ----------------------------------------------------------------


def test_member_launches_into_their_own_gang(world: World) -> None:
    assert launch_into_gang(world, ALICE, ALICES_GANG, ALICES_GANG) is ALLOW


def test_member_cannot_launch_into_another_members_gang_group(world: World) -> None:
    """The explicit Deny wins over LaunchReferences' security-group/*: Bob's machine never joins Alice's gang."""
    assert launch_into_gang(world, BOB, ALICES_GANG, gang_resource_tags(BOB)) is EXPLICIT_DENY


def test_member_cannot_launch_into_another_members_placement_group(world: World) -> None:
    assert launch_into_gang(world, BOB, gang_resource_tags(BOB), ALICES_GANG) is IMPLICIT_DENY


def test_an_admin_cannot_launch_into_a_members_gang_either(world: World) -> None:
    assert launch_into_gang(world, ADMIN, ALICES_GANG, gang_resource_tags(ADMIN)) is EXPLICIT_DENY


@pytest.mark.parametrize(
    "action", ["ec2:ModifyInstanceAttribute", "ec2:ModifyNetworkInterfaceAttribute", "ec2:AttachNetworkInterface"]
)
def test_no_member_machine_can_be_moved_into_a_gang_group_after_launch(world: World, action: str) -> None:
    for policies in (world.member, world.admin):
        assert authorize(policies, [Request(action, f"{EC2}:instance/i-0b0b", BOB.context())]) is IMPLICIT_DENY


@pytest.mark.parametrize("action", [*RULE_ACTIONS, "ec2:CreateSecurityGroup", "ec2:ModifyInstanceAttribute"])
def test_machines_and_the_reaper_cannot_touch_security_groups(world: World, action: str) -> None:
    machine = Caller("AROAINSTANCEROLE0001:i-0a11ce", world.instance_role_arn)
    reaper = Caller("AROAREAPER0000000001:fn", f"arn:aws:iam::{ACCOUNT}:role/weatherballoon-ReaperRole")
    assert on_group(world.instance, machine, action, ALICES_GANG) is IMPLICIT_DENY
    assert on_group(world.reaper, reaper, action, ALICES_GANG) is IMPLICIT_DENY


# --- the stack's own group: nothing new opened -----------------------------------------------------------------


def test_the_stack_group_has_no_self_reference_and_nothing_open_but_ssh(template_json: dict) -> None:
    """Gang traffic never goes through the shared group: a self-reference there would join every wb machine.
    Every rule admitting traffic to the instance group, inline or a separate ingress resource, is SSH, and
    none names the group itself."""
    resources = template_json["Resources"]
    inline = resources["InstanceSecurityGroup"]["Properties"].get("SecurityGroupIngress", [])
    separate = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
        and r["Properties"]["GroupId"] == {"Fn::GetAtt": ["InstanceSecurityGroup", "GroupId"]}
    ]
    rules = [*inline, *separate]
    assert rules and all((r["IpProtocol"], r["FromPort"], r["ToPort"]) == ("tcp", 22, 22) for r in rules)
    itself = {"Fn::GetAtt": ["InstanceSecurityGroup", "GroupId"]}
    assert all(r.get("SourceSecurityGroupId") != itself for r in rules)
