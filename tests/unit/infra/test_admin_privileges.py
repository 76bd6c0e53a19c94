"""The admin policy: budgets and any wb instance, and only for the principals named in AdminPrincipalArns."""

from __future__ import annotations

from typing import Any

import pytest
from weatherballoon.infra.policy_eval import Decision
from weatherballoon.lambdas import schema

from tests.unit.infra.iam_world import ADMIN, ALICE, ALICES, BOBS, PARAMETERS, UNMANAGED, World

ALLOW, IMPLICIT_DENY = Decision.ALLOW, Decision.IMPLICIT_DENY


@pytest.mark.parametrize("action", ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"])
def test_admin_can_change_budgets(world: World, action: str) -> None:
    assert world.table(world.admin, ADMIN, action, schema.BUDGET_PK) is ALLOW


def test_admin_policy_grants_nothing_to_a_principal_not_named(world: World) -> None:
    # The admin policy attached to a member by mistake: the aws:PrincipalArn condition still refuses.
    assert world.table(world.admin, ALICE, "dynamodb:PutItem", schema.BUDGET_PK) is IMPLICIT_DENY
    assert world.on_instance(world.admin, ALICE, "ec2:TerminateInstances", BOBS) is IMPLICIT_DENY


def test_admin_policy_is_inert_until_admins_are_named(template_json: dict[str, Any]) -> None:
    unnamed = World(template_json, {key: value for key, value in PARAMETERS.items() if key != "AdminPrincipalArns"})
    assert unnamed.table(unnamed.admin, ADMIN, "dynamodb:PutItem", schema.BUDGET_PK) is IMPLICIT_DENY


def test_admin_still_cannot_write_ledgers_or_members_rows(world: World) -> None:
    assert world.table(world.admin, ADMIN, "dynamodb:PutItem", schema.ledger_pk("2026-11")) is IMPLICIT_DENY
    assert world.table(world.admin, ADMIN, "dynamodb:PutItem", BOBS.row_key) is IMPLICIT_DENY


def test_admin_can_end_any_wb_instance_but_no_other(world: World) -> None:
    for instance in (ALICES, BOBS):
        assert world.on_instance(world.admin, ADMIN, "ec2:TerminateInstances", instance) is ALLOW
    assert world.on_instance(world.admin, ADMIN, "ec2:TerminateInstances", UNMANAGED) is IMPLICIT_DENY


@pytest.mark.parametrize("action", ["ec2:StopInstances", "ec2:StartInstances", "ec2:ModifyInstanceAttribute"])
def test_admin_cannot_stop_start_or_modify_wb_instances(world: World, action: str) -> None:
    for instance in (ALICES, BOBS):
        assert world.on_instance(world.admin, ADMIN, action, instance) is IMPLICIT_DENY


def test_admin_cannot_write_meters(world: World) -> None:
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert world.table(world.admin, ADMIN, action, schema.meter_key(ALICES.arn)[0]) is IMPLICIT_DENY


def test_admin_can_read_reaper_logs_and_stack_events(world: World) -> None:
    log_group = world.deployed.arn("ReaperLogGroup")
    assert world.any_action(world.admin, ADMIN, "logs:FilterLogEvents", log_group) is ALLOW
    assert world.any_action(world.admin, ALICE, "logs:FilterLogEvents", log_group) is IMPLICIT_DENY
    stack = world.deployed.resolve({"Ref": "AWS::StackId"})
    assert world.any_action(world.admin, ADMIN, "cloudformation:DescribeStackEvents", stack) is ALLOW
