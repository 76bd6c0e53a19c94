"""Bootstrap's errors: no credentials, no permission, a stack left in ROLLBACK_COMPLETE, bad flags. Each one is
a message with a next step and exit code 1 (2 for usage), never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from weatherballoon.cli.aws_account.stack import STACK_NAME, describe_stack

from tests.integration.aws_account.conftest import InProcess, Run, enforce_iam
from tests.support.moto_server import aws_env

NO_CREDENTIALS = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_DEFAULT_REGION": "us-west-2",
}


def test_missing_credentials_is_a_clear_error(wb: Run, moto_endpoint: str) -> None:
    result = wb("bootstrap", env={**NO_CREDENTIALS, "AWS_ENDPOINT_URL": moto_endpoint})
    assert result.returncode == 1
    assert "no AWS credentials found" in result.stderr
    assert "aws configure" in result.stderr and "aws sso login" in result.stderr and "AWS_PROFILE" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [("costs",), ("budget", "show"), ("budget", "set", "AIDAX", "5")])
def test_missing_credentials_in_other_commands(
    wb_here: Callable[..., InProcess], monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    for key, value in NO_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = wb_here(*args)
    assert result.code == 1
    assert "no AWS credentials found" in result.err


@pytest.fixture
def enforced_iam(moto_endpoint: str) -> Iterator[dict[str, str]]:
    """Keys of an IAM user who may look but not deploy; moto enforces IAM actions until the test ends."""
    iam = boto3.client("iam")
    iam.create_user(UserName="looker")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["sts:GetCallerIdentity", "cloudformation:Describe*", "ec2:Describe*", "s3:*"],
                "Resource": "*",
            }
        ],
    }
    iam.put_user_policy(UserName="looker", PolicyName="look", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="looker")["AccessKey"]

    enforce_iam(moto_endpoint, True)
    try:
        yield {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_DEFAULT_REGION": "us-west-2",
            "AWS_ENDPOINT_URL": moto_endpoint,
        }
    finally:
        enforce_iam(moto_endpoint, False)


def test_missing_permission_names_the_action(wb: Run, enforced_iam: dict[str, str]) -> None:
    result = wb("bootstrap", env=enforced_iam)
    assert result.returncode == 1, result.stderr
    assert "not allowed to cloudformation:CreateStack" in result.stderr
    assert "admin" in result.stderr and "docs/bootstrap.md" in result.stderr
    assert "Traceback" not in result.stderr


def fail_creation(stack_name: str, logical_id: str, resource_type: str, reason: str) -> None:
    """Rewrite the stack's history into a failed creation (moto's own create never fails this way)."""
    from moto.cloudformation.models import Event, cloudformation_backends

    stack = cloudformation_backends["123456789012"]["us-west-2"].get_stack(stack_name)
    stack.events.clear()
    stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")

    def resource(status: str, why: str | None) -> None:
        stack.events.append(Event(stack.stack_id, stack.name, logical_id, "", resource_type, status, why, None))

    resource("CREATE_IN_PROGRESS", None)
    resource("CREATE_FAILED", reason)
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", f"The following resource(s) failed to create: [{logical_id}].")
    resource("DELETE_COMPLETE", None)
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.status = "ROLLBACK_COMPLETE"


def test_rollback_complete_stack_is_explained_then_recovered(
    wb: Run, wb_here: Callable[..., InProcess], inprocess_moto: str
) -> None:
    env = aws_env(inprocess_moto)
    assert wb_here("-q", "bootstrap").code == 0
    reason = "Resource handler returned message: Error occurred while GetObject. S3 Error Code: NoSuchKey"
    fail_creation(STACK_NAME, "ReaperFunction", "AWS::Lambda::Function", reason)

    blocked = wb("bootstrap", env=env)
    assert blocked.returncode == 1
    assert "ROLLBACK_COMPLETE" in blocked.stderr and "must be deleted" in blocked.stderr
    assert "ReaperFunction (AWS::Lambda::Function)" in blocked.stderr and "NoSuchKey" in blocked.stderr
    assert "wb bootstrap --destroy" in blocked.stderr
    assert "Traceback" not in blocked.stderr

    assert wb_here("-q", "bootstrap", "--destroy", "--yes").code == 0
    again = wb_here("-q", "bootstrap")
    assert again.code == 0, again.err
    assert describe_stack(boto3.client("cloudformation"), STACK_NAME).status == "CREATE_COMPLETE"


def test_unknown_instance_type_is_refused_before_any_change(wb_here: Callable[..., InProcess], cfn: Any) -> None:
    result = wb_here("bootstrap", "--allowed-types", "g5.xlarge,zz9.huge,p5.*")
    assert result.code == 2
    assert "has no instance type zz9.huge\n" in result.err
    assert describe_stack(cfn, STACK_NAME) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--team", "two words"), "--team: 'two words' does not match"),
        (("--reaper-period", "30s"), "--reaper-period"),
        (("--ssh-cidr", "anywhere"), "--ssh-cidr"),
        (("--destroy", "--user-budget", "5"), "takes no stack settings"),
        (("--destroy", "--dry-run"), "do not go together"),
    ],
)
def test_bad_flag_values_name_the_flag(
    wb_here: Callable[..., InProcess], args: tuple[str, ...], message: str, cfn: Any
) -> None:
    result = wb_here("bootstrap", *args)
    assert result.code == 2
    assert message in result.err
    assert describe_stack(cfn, STACK_NAME) is None
