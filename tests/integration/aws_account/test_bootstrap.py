"""`wb bootstrap` against the moto server through the real binary: create, no-op, update, dry run, destroy."""

from __future__ import annotations

import re
import time
from typing import Any

import boto3
from weatherballoon.cli.aws_account import spot_role
from weatherballoon.cli.aws_account.parameters import split_list
from weatherballoon.cli.aws_account.reaper_zip import build_bundle
from weatherballoon.cli.aws_account.stack import STACK_NAME, StackInfo, describe_stack
from weatherballoon.cli.aws_account.staging import staging_bucket_name

from tests.integration.aws_account.conftest import Run, parameters

BUCKET = staging_bucket_name("123456789012", "us-west-2")


def test_create_stages_code_and_reports_outputs_then_a_rerun_is_a_no_op(wb: Run, cfn: Any) -> None:
    started = time.monotonic()
    first = wb("bootstrap")
    elapsed = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    stack = describe_stack(cfn, STACK_NAME)
    assert stack is not None and stack.status == "CREATE_COMPLETE"
    for key in ("TableName", "ReaperFunctionName", "MemberPolicyArn", "AdminPolicyArn", "WbVersion"):
        assert stack.outputs[key] and stack.outputs[key] in first.stdout
    assert "CREATE_COMPLETE" in first.stderr and "AWS::CloudFormation::Stack" in first.stderr  # events as progress
    assert "Traceback" not in first.stderr
    bundle = build_bundle()
    assert stack.parameters["ReaperCodeBucket"] == BUCKET
    assert stack.parameters["ReaperCodeKey"] == bundle.key
    staged = boto3.client("s3").get_object(Bucket=BUCKET, Key=bundle.key)["Body"].read()
    assert staged == bundle.data
    assert elapsed < 20, f"bootstrap against moto took {elapsed:.1f} s"

    events_before = len(cfn.describe_stack_events(StackName=STACK_NAME)["StackEvents"])
    second = wb("bootstrap")
    assert second.returncode == 0, second.stderr
    assert "no changes" in second.stderr
    assert len(cfn.describe_stack_events(StackName=STACK_NAME)["StackEvents"]) == events_before
    assert describe_stack(cfn, STACK_NAME).status == "CREATE_COMPLETE"


def test_update_changes_the_flagged_parameter_and_keeps_the_rest(
    wb: Run, deployed: StackInfo, cfn: Any, public_layer: str
) -> None:
    before = deployed.parameters
    result = wb(
        "bootstrap", "--user-budget", "250", "--reaper-period", "2m", "--admin", "arn:aws:iam::123456789012:user/boss"
    )
    assert result.returncode == 0, result.stderr
    assert "UPDATE_COMPLETE" in result.stderr
    after = parameters(cfn)
    assert after["OwnerBudgetUsd"] == "250"
    assert after["ReaperSchedule"] == "rate(2 minutes)"
    assert split_list(after["AdminPrincipalArns"]) == ["arn:aws:iam::123456789012:user/boss"]
    changed = ("OwnerBudgetUsd", "ReaperSchedule", "AdminPrincipalArns")
    assert {k: split_list(v) for k, v in after.items() if k not in changed} == {
        k: split_list(v) for k, v in before.items() if k not in changed
    }
    assert describe_stack(cfn, STACK_NAME).status == "UPDATE_COMPLETE"

    again = wb("bootstrap", "--user-budget", "250.0")
    assert again.returncode == 0 and "no changes" in again.stderr


def test_dry_run_lists_changes_and_deploys_nothing(wb: Run, cfn: Any) -> None:
    result = wb("bootstrap", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would create" in result.stderr
    assert "Add" in result.stdout and "ReaperFunction" in result.stdout and "AWS::DynamoDB::Table" in result.stdout
    assert describe_stack(cfn, STACK_NAME) is None
    live = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]
    assert live == []
    assert BUCKET not in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]


def test_dry_run_of_an_update_shows_parameter_changes(wb: Run, deployed: StackInfo, cfn: Any) -> None:
    result = wb("bootstrap", "--dry-run", "--team-budget", "5")
    assert result.returncode == 0, result.stderr
    assert "would update" in result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("TeamBudgetUsd"))
    assert line.split() == ["TeamBudgetUsd", "1000", "5"]
    assert parameters(cfn)["TeamBudgetUsd"] == "1000"
    assert describe_stack(cfn, STACK_NAME).status == "CREATE_COMPLETE"
    assert cfn.list_change_sets(StackName=STACK_NAME)["Summaries"] == []


def test_destroy_refuses_while_a_wb_instance_lives_then_deletes(wb: Run, deployed: StackInfo, cfn: Any) -> None:
    ec2 = boto3.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [{"Key": "wb:managed", "Value": "true"}, {"Key": "wb:owner", "Value": "AIDAALICE"}]
    instance = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]  # fmt: skip
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")  # not wb's: irrelevant

    refused = wb("bootstrap", "--destroy", "--yes")
    assert refused.returncode == 1
    assert instance in refused.stderr and "AIDAALICE" in refused.stderr and "wb down --all" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert describe_stack(cfn, STACK_NAME) is not None

    ec2.terminate_instances(InstanceIds=[instance])
    done = wb("bootstrap", "--destroy", "--yes")
    assert done.returncode == 0, done.stderr
    assert "DELETE_COMPLETE" in done.stderr
    assert f"kept {deployed.outputs['BucketName']}" in done.stderr  # outputs outlive the stack (Retain)
    assert describe_stack(cfn, STACK_NAME) is None
    assert BUCKET not in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]

    nothing = wb("bootstrap", "--destroy", "--yes")
    assert nothing.returncode == 0 and "nothing to destroy" in nothing.stderr


def test_destroy_asks_before_deleting(wb: Run, deployed: StackInfo, cfn: Any) -> None:
    result = wb("bootstrap", "--destroy")
    assert result.returncode == 2
    assert "pass --yes" in result.stderr
    assert describe_stack(cfn, STACK_NAME) is not None


def test_the_spot_service_linked_role_is_created_on_request_and_an_existing_one_is_kept(
    wb: Run, deployed: StackInfo
) -> None:
    iam = boto3.client("iam")

    def spot_roles() -> list[dict[str, Any]]:
        return list(iam.list_roles(PathPrefix=spot_role.PATH)["Roles"])

    assert spot_roles() == []
    noted = wb("bootstrap")
    assert noted.returncode == 0, noted.stderr
    assert "no EC2 Spot service-linked role (AWSServiceRoleForEC2Spot)" in noted.stderr
    assert "wb bootstrap --create-spot-role" in noted.stderr
    dry = wb("bootstrap", "--dry-run", "--create-spot-role")
    assert dry.returncode == 0 and "would create the EC2 Spot service-linked role" in dry.stderr
    assert spot_roles() == []

    created = wb("bootstrap", "--create-spot-role")
    assert created.returncode == 0, created.stderr
    assert "created the EC2 Spot service-linked role AWSServiceRoleForEC2Spot" in created.stderr
    [role] = spot_roles()
    principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
    assert principal in ("spot.amazonaws.com", ["spot.amazonaws.com"])

    kept = wb("bootstrap", "--create-spot-role")
    assert kept.returncode == 0, kept.stderr
    assert "kept the EC2 Spot service-linked role" in kept.stderr and len(spot_roles()) == 1
    assert "no EC2 Spot service-linked role" not in wb("bootstrap").stderr


def test_the_spot_role_request_follows_iams_documented_rules() -> None:
    # CreateServiceLinkedRole: AWSServiceName 1-128 characters of [\w+=,.@-] (IAM API reference)
    assert re.fullmatch(r"[\w+=,.@-]{1,128}", spot_role.SERVICE)
    assert f"/aws-service-role/{spot_role.SERVICE}/" == spot_role.PATH  # where IAM puts a service-linked role
