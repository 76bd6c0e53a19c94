"""Least privilege of the instance role and the reaper role, proven over the synthesized template."""

from __future__ import annotations

import pytest
from weatherballoon.infra.policy_eval import Decision, Request, authorize
from weatherballoon.lambdas import schema, tags

from tests.unit.infra.iam_world import (
    ACCOUNT,
    ALICE,
    ALICES,
    ALICES_OTHER,
    BOB,
    BOBS,
    REGION,
    UNMANAGED,
    Caller,
    Instance,
    World,
)

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY
ROW_ACTIONS = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"]
REAPER = Caller(
    "AROAREAPER0000000001:weatherballoon-ReaperFunction", f"arn:aws:iam::{ACCOUNT}:role/weatherballoon-ReaperRole"
)


def outputs_key(owner_userid: str, instance_arn: str, rest: str = "jobs/j1/out.txt") -> str:
    return f"{owner_userid}/{instance_arn}/{rest}"


# --- the instance role --------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ROW_ACTIONS)
def test_instance_can_read_and_write_its_own_rows(world: World, action: str) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    assert world.table(world.instance, me, action, ALICES.row_key) is ALLOW


@pytest.mark.parametrize("action", ROW_ACTIONS)
def test_instance_cannot_touch_another_instances_row(world: World, action: str) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    assert world.table(world.instance, me, action, ALICES_OTHER.row_key) is IMPLICIT_DENY  # same owner
    assert world.table(world.instance, me, action, BOBS.row_key) is IMPLICIT_DENY


def test_instance_cannot_write_budgets_ledgers_or_owner_rows(world: World) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    for key in (schema.BUDGET_PK, schema.ledger_pk("2026-11"), schema.REAPER_PK, f"OWNER#{ALICE.userid}#NOTES"):
        assert world.table(world.instance, me, "dynamodb:PutItem", key) is IMPLICIT_DENY


def test_instance_cannot_scan_delete_or_batch(world: World) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    assert world.table(world.instance, me, "dynamodb:Scan") is IMPLICIT_DENY
    assert world.table(world.instance, me, "dynamodb:DeleteItem", ALICES.row_key) is IMPLICIT_DENY
    assert world.table(world.instance, me, "dynamodb:BatchWriteItem", ALICES.row_key) is IMPLICIT_DENY


def test_instance_row_rule_needs_instance_credentials(world: World) -> None:
    # Without ec2:SourceInstanceARN (credentials used by anyone but an instance) the pattern matches nothing.
    not_an_instance = Caller("AROAINSTANCEROLE0001:i-0a11ce00000000001", world.instance_role_arn)
    assert world.table(world.instance, not_an_instance, "dynamodb:PutItem", ALICES.row_key) is IMPLICIT_DENY


@pytest.mark.parametrize("action", ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"])
def test_instance_can_use_its_own_outputs_folder(world: World, action: str) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    assert world.s3(world.instance, me, action, outputs_key(ALICE.userid, ALICES.arn)) is ALLOW


@pytest.mark.parametrize("action", ["s3:GetObject", "s3:PutObject"])
def test_instance_cannot_touch_another_instances_outputs(world: World, action: str) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    assert world.s3(world.instance, me, action, outputs_key(ALICE.userid, ALICES_OTHER.arn)) is IMPLICIT_DENY
    assert world.s3(world.instance, me, action, outputs_key(BOB.userid, BOBS.arn)) is IMPLICIT_DENY
    assert world.s3(world.instance, me, action, f"{ALICE.userid}/notes.txt") is IMPLICIT_DENY


def test_instance_cannot_reach_others_outputs_through_a_nested_path(world: World) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    nested = outputs_key(BOB.userid, BOBS.arn, f"jobs/j2/{ALICES.arn}/stolen.txt")
    assert world.s3(world.instance, me, "s3:GetObject", nested) is EXPLICIT_DENY
    assert world.s3(world.instance, me, "s3:PutObject", nested) is EXPLICIT_DENY


def test_instance_cannot_list_delete_or_use_plain_http(world: World) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    own = outputs_key(ALICE.userid, ALICES.arn)
    assert world.list_prefix(world.instance, me, f"{ALICE.userid}/{ALICES.arn}/") is IMPLICIT_DENY
    assert world.s3(world.instance, me, "s3:DeleteObject", own) is IMPLICIT_DENY
    assert world.s3(world.instance, me, "s3:PutObject", own, tls=False) is EXPLICIT_DENY


def test_instance_cannot_launch_terminate_or_pass_roles(world: World) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    assert world.on_instance(world.instance, me, "ec2:TerminateInstances", ALICES) is IMPLICIT_DENY
    launch = world.launch(world.instance, me, launch_tags=tags.wb_tags(ALICE.userid, "ml", "p"))
    assert launch is IMPLICIT_DENY


@pytest.mark.parametrize("action", ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"])
def test_instance_cannot_lower_what_its_owner_is_charged(world: World, action: str) -> None:
    # Its own meter (accrual cursor, price, first start) and its owner's ledger are out of its reach.
    me = ALICES.as_caller(world.instance_role_arn)
    for key in (schema.meter_key(ALICES.arn)[0], schema.ledger_pk("2026-12")):
        assert world.table(world.instance, me, action, key) is IMPLICIT_DENY
    assert world.table(world.instance, me, "dynamodb:DeleteItem", ALICES.row_key) is IMPLICIT_DENY


@pytest.mark.parametrize(
    "action", ["ec2:StopInstances", "ec2:StartInstances", "ec2:ModifyInstanceAttribute", "ec2:CreateTags"]
)
def test_instance_cannot_stop_start_or_modify_itself(world: World, action: str) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    assert world.on_instance(world.instance, me, action, ALICES) is IMPLICIT_DENY


def test_instance_can_read_tags_in_its_region_only(world: World) -> None:
    # boot.py falls back to DescribeTags when instance metadata has no tags.
    me = ALICES.as_caller(world.instance_role_arn)
    here = world.any_action(world.instance, me, "ec2:DescribeTags", "*", **{"ec2:Region": REGION})
    there = world.any_action(world.instance, me, "ec2:DescribeTags", "*", **{"ec2:Region": "eu-west-1"})
    assert (here, there) == (ALLOW, IMPLICIT_DENY)
    assert world.any_action(world.instance, me, "ec2:DescribeInstanceAttribute", ALICES.arn) is IMPLICIT_DENY


# --- the reaper role ----------------------------------------------------------------------------------------


def test_reaper_can_terminate_tagged_instances(world: World) -> None:
    for instance in (ALICES, BOBS):
        assert world.on_instance(world.reaper, REAPER, "ec2:TerminateInstances", instance) is ALLOW


def test_reaper_cannot_terminate_untagged_instances(world: World) -> None:
    assert world.on_instance(world.reaper, REAPER, "ec2:TerminateInstances", UNMANAGED) is IMPLICIT_DENY
    not_true = Instance("i-0f00", ALICE, {**ALICES.tags, tags.MANAGED: "false"})
    assert world.on_instance(world.reaper, REAPER, "ec2:TerminateInstances", not_true) is IMPLICIT_DENY


def test_reaper_cannot_stop_start_or_retag(world: World) -> None:
    for action in ("ec2:StopInstances", "ec2:StartInstances", "ec2:CreateTags", "ec2:DeleteTags"):
        assert world.on_instance(world.reaper, REAPER, action, ALICES) is IMPLICIT_DENY


def test_reaper_can_lift_protection_and_kept_volumes_on_wb_instances_only(world: World) -> None:
    # ModifyInstanceAttribute is authorized on the instance and, for block devices, on the volume too.
    volume = Request("ec2:ModifyInstanceAttribute", f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-0123", REAPER.context())
    for instance, expected in ((ALICES, ALLOW), (BOBS, ALLOW), (UNMANAGED, IMPLICIT_DENY)):
        context = REAPER.context(**{f"ec2:ResourceTag/{k}": v for k, v in instance.tags.items()})
        on_instance = Request("ec2:ModifyInstanceAttribute", instance.arn, context)
        assert authorize(world.reaper, [on_instance]) is expected
        assert authorize(world.reaper, [on_instance, volume]) is expected


def test_reaper_can_describe_instances(world: World) -> None:
    assert world.any_action(world.reaper, REAPER, "ec2:DescribeInstances", "*") is ALLOW
    assert world.any_action(world.reaper, REAPER, "ec2:DescribeSpotPriceHistory", "*") is ALLOW


def test_reaper_reads_and_writes_only_its_table(world: World) -> None:
    for action in ("dynamodb:Query", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem"):
        assert world.table(world.reaper, REAPER, action, schema.ledger_pk("2026-11")) is ALLOW
    elsewhere = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/payroll"
    assert world.any_action(world.reaper, REAPER, "dynamodb:PutItem", elsewhere) is IMPLICIT_DENY
    assert world.any_action(world.reaper, REAPER, "dynamodb:DeleteTable", world.table_arn) is IMPLICIT_DENY


def test_reaper_publishes_metrics_only_in_its_namespace(world: World) -> None:
    ours = world.any_action(
        world.reaper, REAPER, "cloudwatch:PutMetricData", "*", **{"cloudwatch:namespace": "Weatherballoon"}
    )
    other = world.any_action(
        world.reaper, REAPER, "cloudwatch:PutMetricData", "*", **{"cloudwatch:namespace": "AWS/EC2"}
    )
    assert (ours, other) == (ALLOW, IMPLICIT_DENY)


def test_reaper_cannot_read_outputs(world: World) -> None:
    assert world.s3(world.reaper, REAPER, "s3:GetObject", outputs_key(ALICE.userid, ALICES.arn)) is IMPLICIT_DENY


def test_every_ec2_call_boot_makes_is_granted_to_the_instance(world: World) -> None:
    """remote/boot.py runs on the instance with the role's credentials; each EC2 call it makes is allowed."""
    import ast
    from pathlib import Path

    import botocore.session

    source = Path(__file__).parents[3] / "remote" / "boot.py"
    ec2_model = botocore.session.get_session().get_service_model("ec2")
    by_method = {botocore.xform_name(name): name for name in ec2_model.operation_names}
    calls = {
        by_method[node.func.attr]
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in by_method
    }
    assert calls == {"DescribeTags"}  # a new call here must be granted in infra/iam.py and proven
    me = ALICES.as_caller(world.instance_role_arn)
    for operation in calls:
        granted = world.any_action(world.instance, me, f"ec2:{operation}", "*", **{"ec2:Region": REGION})
        assert granted is ALLOW, operation
