"""Least privilege of the member policy, proven over the synthesized template (docs/iam.md lists these)."""

from __future__ import annotations

import pytest
from weatherballoon.infra.policy_eval import Decision
from weatherballoon.lambdas import schema, tags

from tests.unit.infra.iam_world import ACCOUNT, ALICE, ALICES, BOB, BOBS, REGION, TEAM, UNMANAGED, World

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY
ALICE_TAGS = tags.wb_tags(ALICE.userid, TEAM, "proj", "wb")
OPERATIONS = ["ec2:TerminateInstances", "ec2-instance-connect:SendSSHPublicKey"]
WRITES = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]


def launch_as_alice(world: World, **options: object) -> Decision:
    launch_tags = options.pop("launch_tags", ALICE_TAGS)
    return world.launch(world.member, ALICE, launch_tags=launch_tags, **options)  # type: ignore[arg-type]


def test_member_can_launch_tagged_as_themselves(world: World) -> None:
    assert launch_as_alice(world) is ALLOW


@pytest.mark.parametrize("missing", [tags.MANAGED, tags.OWNER, tags.TEAM, tags.PROJECT])
def test_member_cannot_launch_without_each_wb_tag(world: World, missing: str) -> None:
    without = {key: value for key, value in ALICE_TAGS.items() if key != missing}
    assert launch_as_alice(world, launch_tags=without) is IMPLICIT_DENY


def test_member_cannot_launch_untagged(world: World) -> None:
    assert launch_as_alice(world, launch_tags={}) is IMPLICIT_DENY


def test_member_cannot_launch_as_another_owner(world: World) -> None:
    assert launch_as_alice(world, launch_tags={**ALICE_TAGS, tags.OWNER: BOB.userid}) is IMPLICIT_DENY


def test_member_cannot_launch_for_another_team(world: World) -> None:
    assert launch_as_alice(world, launch_tags={**ALICE_TAGS, tags.TEAM: "other-team"}) is IMPLICIT_DENY


def test_member_cannot_launch_unmanaged(world: World) -> None:
    assert launch_as_alice(world, launch_tags={**ALICE_TAGS, tags.MANAGED: "false"}) is IMPLICIT_DENY


def test_member_cannot_launch_with_case_variant_tag_keys(world: World) -> None:
    # IAM matches condition-key names case-insensitively; EC2 and the reaper's filter do not.
    shouted = {key.upper(): value for key, value in ALICE_TAGS.items()}
    assert launch_as_alice(world, launch_tags=shouted) is IMPLICIT_DENY
    assert launch_as_alice(world, launch_tags={**ALICE_TAGS, "WB:MANAGED": "false"}) is IMPLICIT_DENY


@pytest.mark.parametrize("instance_type", ["p5.48xlarge", "p4d.24xlarge", "g5.48xlarge", "x2iedn.32xlarge"])
def test_member_cannot_launch_a_disallowed_type(world: World, instance_type: str) -> None:
    assert launch_as_alice(world, instance_type=instance_type) is IMPLICIT_DENY


def test_allowed_types_accept_iam_patterns(template_json: dict) -> None:
    from tests.unit.infra.iam_world import PARAMETERS

    patterned = World(template_json, {**PARAMETERS, "AllowedInstanceTypes": "g5.*,t3.micro"})
    assert launch_as_alice(patterned, instance_type="g5.12xlarge") is ALLOW
    assert launch_as_alice(patterned, instance_type="g6.xlarge") is IMPLICIT_DENY


def test_member_cannot_pass_another_role(world: World) -> None:
    admin_role = f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole"
    assert launch_as_alice(world, role_arn=admin_role) is IMPLICIT_DENY


def test_member_cannot_pass_the_instance_role_to_another_service(world: World) -> None:
    assert launch_as_alice(world, passed_to="lambda.amazonaws.com") is IMPLICIT_DENY


def test_member_cannot_retag_after_launch(world: World) -> None:
    assert world.tag_later(world.member, ALICE, ALICES, **{tags.OWNER: BOB.userid}) is IMPLICIT_DENY
    assert world.tag_later(world.member, ALICE, ALICES, Name="renamed") is IMPLICIT_DENY
    untag = world.any_action(world.member, ALICE, "ec2:DeleteTags", ALICES.arn, **{"aws:TagKeys": [tags.MANAGED]})
    assert untag is IMPLICIT_DENY


@pytest.mark.parametrize("action", OPERATIONS)
def test_member_can_operate_own_instance(world: World, action: str) -> None:
    assert world.on_instance(world.member, ALICE, action, ALICES) is ALLOW


@pytest.mark.parametrize("action", OPERATIONS)
def test_member_cannot_operate_anothers_instance(world: World, action: str) -> None:
    assert world.on_instance(world.member, ALICE, action, BOBS) is IMPLICIT_DENY
    assert world.on_instance(world.member, BOB, action, ALICES) is IMPLICIT_DENY


@pytest.mark.parametrize("action", OPERATIONS)
def test_member_cannot_operate_an_unmanaged_instance(world: World, action: str) -> None:
    assert world.on_instance(world.member, ALICE, action, UNMANAGED) is IMPLICIT_DENY


@pytest.mark.parametrize("action", ["dynamodb:PutItem", "dynamodb:UpdateItem"])
def test_member_can_write_own_rows(world: World, action: str) -> None:
    assert world.table(world.member, ALICE, action, ALICES.row_key) is ALLOW
    assert world.table(world.member, BOB, action, BOBS.row_key) is ALLOW


@pytest.mark.parametrize("action", ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"])
def test_member_cannot_write_anothers_rows(world: World, action: str) -> None:
    assert world.table(world.member, ALICE, action, BOBS.row_key) is IMPLICIT_DENY
    assert world.table(world.member, BOB, action, ALICES.row_key) is IMPLICIT_DENY


@pytest.mark.parametrize(
    "partition_key",
    [schema.BUDGET_PK, schema.ledger_pk("2026-11"), schema.audit_pk("2026-11-23"), schema.REAPER_PK],
)
def test_member_cannot_write_budgets_ledgers_audit_or_heartbeat(world: World, partition_key: str) -> None:
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert world.table(world.member, ALICE, action, partition_key) is IMPLICIT_DENY


def test_member_batch_write_mixing_own_rows_and_a_budget_is_denied(world: World) -> None:
    batch = world.table(world.member, ALICE, "dynamodb:BatchWriteItem", ALICES.row_key, schema.BUDGET_PK)
    assert batch is IMPLICIT_DENY
    assert world.table(world.member, ALICE, "dynamodb:BatchWriteItem", ALICES.row_key) is IMPLICIT_DENY


def test_member_cannot_delete_any_row_not_even_their_own(world: World) -> None:
    # A deleted row could only hide a machine from a check; wb never deletes one.
    for key in (ALICES.row_key, f"OWNER#{ALICE.userid}#INSTANCE#{ALICES.arn}", BOBS.row_key):
        assert world.table(world.member, ALICE, "dynamodb:DeleteItem", key) is IMPLICIT_DENY


@pytest.mark.parametrize("action", WRITES)
def test_member_cannot_lower_what_they_are_charged(world: World, action: str) -> None:
    """The accrual cursor, the billed price and the lifetime start live in meters; the charges in ledgers.
    A member can write neither, for their own instance or any other (the engine ignores their own rows)."""
    for shard in range(schema.METER_SHARDS):
        assert world.table(world.member, ALICE, action, schema.meter_pk(shard)) is IMPLICIT_DENY
    assert world.table(world.member, ALICE, action, schema.meter_key(ALICES.arn)[0]) is IMPLICIT_DENY
    assert world.table(world.member, ALICE, action, schema.ledger_pk("2026-12")) is IMPLICIT_DENY


@pytest.mark.parametrize("action", ["ec2:StopInstances", "ec2:StartInstances"])
def test_member_cannot_stop_or_start_any_instance(world: World, action: str) -> None:
    # A start resets EC2's LaunchTime: wb never needs either, and the lifetime cap must not be resettable.
    for instance in (ALICES, BOBS):
        assert world.on_instance(world.member, ALICE, action, instance) is IMPLICIT_DENY


@pytest.mark.parametrize(
    "volume",
    [
        {"ec2:VolumeSize": "501", "ec2:VolumeType": "gp3"},
        {"ec2:VolumeSize": "100", "ec2:VolumeType": "io2"},
        {"ec2:VolumeSize": "100", "ec2:VolumeType": "st1"},
        {"ec2:VolumeSize": "100", "ec2:VolumeType": "gp3", "ec2:VolumeIops": "16000"},
        {"ec2:VolumeSize": "100", "ec2:VolumeType": "gp3", "ec2:VolumeThroughput": "1000"},
        {"ec2:VolumeType": "gp3"},
    ],
    ids=["too-big", "io2", "st1", "provisioned-iops", "provisioned-throughput", "size-unknown"],
)
def test_member_cannot_launch_a_volume_no_budget_sees(world: World, volume: dict[str, str]) -> None:
    assert launch_as_alice(world, volumes=[volume]) is IMPLICIT_DENY
    assert launch_as_alice(world, volumes=[{"ec2:VolumeSize": "100", "ec2:VolumeType": "gp3"}, volume]) is IMPLICIT_DENY


def test_member_can_launch_volumes_up_to_the_cap(world: World, template_json: dict) -> None:
    at_cap = {"ec2:VolumeSize": "500", "ec2:VolumeType": "gp2", "ec2:VolumeIops": "1500"}
    assert launch_as_alice(world, volumes=[at_cap]) is ALLOW
    from tests.unit.infra.iam_world import PARAMETERS

    bigger = World(template_json, {**PARAMETERS, "MaxVolumeGiB": "2000"})
    assert launch_as_alice(bigger, volumes=[{"ec2:VolumeSize": "2000", "ec2:VolumeType": "gp3"}]) is ALLOW


def test_member_cannot_read_other_instances_user_data(world: World) -> None:
    # ec2:Describe* would include DescribeInstanceAttribute, which returns any instance's user-data.
    for instance in (ALICES, BOBS):
        assert world.any_action(world.member, ALICE, "ec2:DescribeInstanceAttribute", instance.arn) is IMPLICIT_DENY
    assert world.any_action(world.member, ALICE, "ec2:DescribeInstances", "*") is ALLOW


def test_member_describes_exactly_what_wb_calls(world: World) -> None:
    from weatherballoon.cli.providers.aws.permissions import MEMBER_ACTIONS

    granted = {
        action
        for statement in world.member[0]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        if action.startswith("ec2:Describe")
    }
    declared = {a for a in MEMBER_ACTIONS if a.startswith("ec2:Describe")}
    assert "ec2:Describe*" not in granted
    assert granted == declared


def test_member_write_naming_no_partition_key_is_denied(world: World) -> None:
    assert world.table(world.member, ALICE, "dynamodb:PutItem") is IMPLICIT_DENY


def test_member_can_read_the_table_for_status_and_costs(world: World) -> None:
    for key in (BOBS.row_key, schema.BUDGET_PK, schema.ledger_pk("2026-11"), schema.REAPER_PK):
        assert world.table(world.member, ALICE, "dynamodb:Query", key) is ALLOW
    assert world.table(world.member, ALICE, "dynamodb:Scan") is ALLOW


def test_member_can_use_own_outputs_prefix_only(world: World) -> None:
    own = f"{ALICE.userid}/{ALICES.arn}/jobs/j1/out.txt"
    assert world.s3(world.member, ALICE, "s3:GetObject", own) is ALLOW
    assert world.s3(world.member, ALICE, "s3:PutObject", own) is ALLOW
    assert world.list_prefix(world.member, ALICE, f"{ALICE.userid}/") is ALLOW
    bobs = f"{BOB.userid}/{BOBS.arn}/jobs/j2/out.txt"
    assert world.s3(world.member, ALICE, "s3:GetObject", bobs) is IMPLICIT_DENY
    assert world.list_prefix(world.member, ALICE, f"{BOB.userid}/") is IMPLICIT_DENY
    assert world.list_prefix(world.member, ALICE, "") is IMPLICIT_DENY


def test_member_cannot_use_outputs_over_plain_http(world: World) -> None:
    own = f"{ALICE.userid}/notes.txt"
    assert world.s3(world.member, ALICE, "s3:GetObject", own, tls=False) is EXPLICIT_DENY


def test_member_can_read_this_stack_and_spot_prices_only(world: World) -> None:
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/weatherballoon/0f1e2d3c"
    other = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/payroll/0f1e2d3c"
    assert world.any_action(world.member, ALICE, "cloudformation:DescribeStacks", stack) is ALLOW
    assert world.any_action(world.member, ALICE, "cloudformation:DescribeStacks", other) is IMPLICIT_DENY
    assert world.any_action(world.member, ALICE, "cloudformation:UpdateStack", stack) is IMPLICIT_DENY
    assert world.any_action(world.member, ALICE, "ec2:DescribeSpotPriceHistory", "*") is ALLOW
