"""Each guard in the policies is load-bearing: remove it from a copy of the template and its proof flips.

Without these, a property test could pass because the evaluator refuses everything for some other reason.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from weatherballoon.infra.policy_eval import Decision
from weatherballoon.lambdas import tags

from tests.unit.infra.iam_world import ALICE, ALICES, BOB, BOBS, TEAM, UNMANAGED, World
from tests.unit.infra.test_machine_privileges import REAPER, outputs_key

ALLOW = Decision.ALLOW


def weakened(template: dict[str, Any], sid: str, change: Callable[[dict[str, Any]], None]) -> World:
    mutated = copy.deepcopy(template)
    found = 0
    for resource in mutated["Resources"].values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            for statement in [s for s in statements if s.get("Sid") == sid]:
                change(statement)
                found += 1
    assert found, f"no statement {sid}"
    return World(mutated)


def drop_condition(operator: str, key: str) -> Callable[[dict[str, Any]], None]:
    def change(statement: dict[str, Any]) -> None:
        del statement["Condition"][operator][key]

    return change


def drop_statement(statement: dict[str, Any]) -> None:
    statement["Effect"] = "Allow"
    statement["Action"] = "none:Nothing"


SHOUTED = {key.upper(): value for key, value in tags.wb_tags(ALICE.userid, TEAM, "p").items()}


@pytest.mark.parametrize(
    ("sid", "change", "attempt"),
    [
        (
            "LaunchTaggedAsCaller",
            drop_condition("StringEquals", "aws:RequestTag/wb:owner"),
            lambda w: w.launch(w.member, ALICE, launch_tags=tags.wb_tags(BOB.userid, TEAM, "p")),
        ),
        (
            "LaunchTaggedAsCaller",
            drop_condition("ForAllValues:StringEquals", "aws:TagKeys"),
            lambda w: w.launch(w.member, ALICE, launch_tags=SHOUTED),
        ),
        (
            "LaunchTaggedAsCaller",
            drop_condition("StringLike", "ec2:InstanceType"),
            lambda w: w.launch(
                w.member, ALICE, launch_tags=tags.wb_tags(ALICE.userid, TEAM, "p"), instance_type="p5.48xlarge"
            ),
        ),
        (
            "OperateOwnInstances",
            drop_condition("StringEquals", "ec2:ResourceTag/wb:owner"),
            lambda w: w.on_instance(w.member, ALICE, "ec2:TerminateInstances", BOBS),
        ),
        (
            "WriteOwnRows",
            drop_condition("Null", "dynamodb:LeadingKeys"),
            lambda w: w.table(w.member, ALICE, "dynamodb:PutItem"),
        ),
        (
            "OwnerSegmentIsOneSegment",
            drop_statement,
            lambda w: w.s3(
                w.instance,
                ALICES.as_caller(w.instance_role_arn),
                "s3:GetObject",
                outputs_key(BOB.userid, BOBS.arn, f"x/{ALICES.arn}/y"),
            ),
        ),
        (
            "TerminateManagedInstances",
            drop_condition("StringEquals", "ec2:ResourceTag/wb:managed"),
            lambda w: w.on_instance(w.reaper, REAPER, "ec2:TerminateInstances", UNMANAGED),
        ),
        (
            "LaunchVolumes",
            drop_condition("NumericLessThanEquals", "ec2:VolumeSize"),
            lambda w: w.launch(
                w.member,
                ALICE,
                launch_tags=tags.wb_tags(ALICE.userid, TEAM, "p"),
                volumes=[{"ec2:VolumeSize": "16000", "ec2:VolumeType": "gp3"}],
            ),
        ),
        (
            "LaunchVolumes",
            drop_condition("StringEquals", "ec2:VolumeType"),
            lambda w: w.launch(
                w.member,
                ALICE,
                launch_tags=tags.wb_tags(ALICE.userid, TEAM, "p"),
                volumes=[{"ec2:VolumeSize": "100", "ec2:VolumeType": "io2"}],
            ),
        ),
        (
            "LaunchVolumes",
            drop_condition("NumericLessThanEqualsIfExists", "ec2:VolumeIops"),
            lambda w: w.launch(
                w.member,
                ALICE,
                launch_tags=tags.wb_tags(ALICE.userid, TEAM, "p"),
                volumes=[{"ec2:VolumeSize": "100", "ec2:VolumeType": "gp3", "ec2:VolumeIops": "9000"}],
            ),
        ),
        (
            "ReadOwnTags",
            drop_condition("StringEquals", "ec2:Region"),
            lambda w: w.any_action(
                w.instance,
                ALICES.as_caller(w.instance_role_arn),
                "ec2:DescribeTags",
                "*",
                **{"ec2:Region": "eu-west-1"},
            ),
        ),
    ],
    ids=[
        "owner-tag",
        "tag-key-case",
        "instance-type",
        "resource-owner",
        "keyless-write",
        "one-segment",
        "reaper-tag",
        "volume-size",
        "volume-type",
        "volume-iops",
        "tags-region",
    ],
)
def test_removing_a_guard_lets_the_forbidden_request_through(
    template_json: dict[str, Any],
    sid: str,
    change: Callable[[dict[str, Any]], None],
    attempt: Callable[[World], Decision],
) -> None:
    assert attempt(World(template_json)) is not ALLOW
    assert attempt(weakened(template_json, sid, change)) is ALLOW
