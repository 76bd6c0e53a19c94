"""ExtraOutputBucket: a bucket the admin names is granted with exactly the stack bucket's layout, and nothing
is granted on any other bucket (none at all while the parameter is empty, its default)."""

from __future__ import annotations

from typing import Any

import pytest
from weatherballoon.infra.policy_eval import Decision

from tests.unit.infra.iam_world import ALICE, ALICES, ALICES_OTHER, BOB, BOBS, PARAMETERS, World

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY
EXTRA = "team-results"
OTHER = "someone-elses-bucket"
OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject"]


@pytest.fixture(scope="module")
def granted(template_json: dict[str, Any]) -> World:
    return World(template_json, {**PARAMETERS, "ExtraOutputBucket": EXTRA})


def outputs_key(owner_userid: str, instance_arn: str, rest: str = "j1/out.txt") -> str:
    return f"{owner_userid}/{instance_arn}/{rest}"


@pytest.mark.parametrize("action", OBJECT_ACTIONS)
def test_without_the_parameter_no_other_bucket_is_granted(world: World, action: str) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    own = outputs_key(ALICE.userid, ALICES.arn)
    assert world.s3(world.instance, me, action, own) is ALLOW  # not vacuous: the stack's bucket answers
    for bucket in (EXTRA, OTHER):
        assert world.s3(world.instance, me, action, own, bucket=bucket) is IMPLICIT_DENY
        assert world.s3(world.member, ALICE, action, f"{ALICE.userid}/x", bucket=bucket) is IMPLICIT_DENY
    assert world.list_prefix(world.member, ALICE, f"{ALICE.userid}/", bucket=EXTRA) is IMPLICIT_DENY


@pytest.mark.parametrize("action", OBJECT_ACTIONS)
def test_an_instance_may_push_to_its_own_prefix_of_the_named_bucket_only(granted: World, action: str) -> None:
    me = ALICES.as_caller(granted.instance_role_arn)
    assert granted.s3(granted.instance, me, action, outputs_key(ALICE.userid, ALICES.arn), bucket=EXTRA) is ALLOW
    for key in (outputs_key(ALICE.userid, ALICES_OTHER.arn), outputs_key(BOB.userid, BOBS.arn), "top.txt"):
        assert granted.s3(granted.instance, me, action, key, bucket=EXTRA) is IMPLICIT_DENY
    nested = f"{ALICE.userid}/x/{ALICES.arn}/j1/out.txt"  # its ARN one segment deeper than the owner's
    assert granted.s3(granted.instance, me, action, nested, bucket=EXTRA) is EXPLICIT_DENY
    own = outputs_key(ALICE.userid, ALICES.arn)
    assert granted.s3(granted.instance, me, action, own, bucket=OTHER) is IMPLICIT_DENY


def test_an_instance_may_not_delete_or_list_in_the_named_bucket(granted: World) -> None:
    me = ALICES.as_caller(granted.instance_role_arn)
    own = outputs_key(ALICE.userid, ALICES.arn)
    assert granted.s3(granted.instance, me, "s3:DeleteObject", own, bucket=EXTRA) is IMPLICIT_DENY
    assert granted.list_prefix(granted.instance, me, f"{ALICE.userid}/", bucket=EXTRA) is IMPLICIT_DENY


@pytest.mark.parametrize("action", OBJECT_ACTIONS)
def test_a_member_may_use_their_own_prefix_of_the_named_bucket_only(granted: World, action: str) -> None:
    assert granted.s3(granted.member, ALICE, action, outputs_key(ALICE.userid, ALICES.arn), bucket=EXTRA) is ALLOW
    bobs, alices = outputs_key(BOB.userid, BOBS.arn), outputs_key(ALICE.userid, ALICES.arn)
    assert granted.s3(granted.member, ALICE, action, bobs, bucket=EXTRA) is IMPLICIT_DENY
    assert granted.s3(granted.member, BOB, action, alices, bucket=EXTRA) is IMPLICIT_DENY
    assert granted.s3(granted.member, ALICE, action, f"{ALICE.userid}/x", bucket=OTHER) is IMPLICIT_DENY


def test_a_member_lists_only_their_own_prefix_of_the_named_bucket(granted: World) -> None:
    assert granted.list_prefix(granted.member, ALICE, f"{ALICE.userid}/", bucket=EXTRA) is ALLOW
    assert granted.list_prefix(granted.member, ALICE, f"{BOB.userid}/", bucket=EXTRA) is IMPLICIT_DENY
    assert granted.list_prefix(granted.member, ALICE, "", bucket=EXTRA) is IMPLICIT_DENY
    assert granted.list_prefix(granted.member, ALICE, f"{ALICE.userid}/", bucket=OTHER) is IMPLICIT_DENY


def test_naming_a_bucket_changes_nothing_on_the_stacks_own_bucket(world: World, granted: World) -> None:
    me = ALICES.as_caller(world.instance_role_arn)
    own = outputs_key(ALICE.userid, ALICES.arn)
    for w in (world, granted):
        assert w.s3(w.instance, me, "s3:PutObject", own) is ALLOW
        assert w.s3(w.instance, me, "s3:PutObject", own, tls=False) is EXPLICIT_DENY
        assert w.s3(w.instance, me, "s3:PutObject", outputs_key(BOB.userid, BOBS.arn)) is IMPLICIT_DENY
