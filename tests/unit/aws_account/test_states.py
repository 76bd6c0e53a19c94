"""Which stack states block bootstrap, and that the message carries the failing resource's reason."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from weatherballoon.cli.aws_account.events import StackEvent, root_cause
from weatherballoon.cli.aws_account.stack import StackInfo
from weatherballoon.cli.aws_account.states import blocking_error

T = datetime(2026, 11, 24, tzinfo=timezone.utc)


def event(logical: str, kind: str, status: str, reason: str | None = None) -> StackEvent:
    return StackEvent(f"{logical}-{status}", T, logical, kind, status, reason)


def stack(status: str) -> StackInfo:
    return StackInfo("weatherballoon", "arn:aws:cloudformation:us-west-2:1:stack/weatherballoon/x", status)


CREATE_FAILED = [
    event("weatherballoon", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
    event("SupervisionTable", "AWS::DynamoDB::Table", "CREATE_IN_PROGRESS"),
    event("ReaperFunction", "AWS::Lambda::Function", "CREATE_FAILED", "S3 key does not exist"),
    event("SupervisionTable", "AWS::DynamoDB::Table", "CREATE_FAILED", "Resource creation cancelled"),
    event("weatherballoon", "AWS::CloudFormation::Stack", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed"),
    event("weatherballoon", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE"),
]


def test_root_cause_skips_cancellation_echoes() -> None:
    cause = root_cause(CREATE_FAILED)
    assert cause is not None and cause.logical_id == "ReaperFunction"


@pytest.mark.parametrize(
    "status", ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"]
)
def test_deployable_states(status: str) -> None:
    assert blocking_error(stack(status), None) is None
    assert blocking_error(None, None) is None


def test_rollback_complete_must_be_deleted_and_says_why() -> None:
    error = blocking_error(stack("ROLLBACK_COMPLETE"), root_cause(CREATE_FAILED))
    assert error is not None
    assert "must be deleted" in error.message
    assert "ReaperFunction (AWS::Lambda::Function): S3 key does not exist" in error.message
    assert error.hint and "wb bootstrap --destroy" in error.hint


def test_update_rollback_failed_points_at_continue_update_rollback() -> None:
    error = blocking_error(stack("UPDATE_ROLLBACK_FAILED"), None)
    assert error is not None and error.hint and "continue-update-rollback" in error.hint


def test_a_busy_stack_says_wait() -> None:
    error = blocking_error(stack("UPDATE_IN_PROGRESS"), None)
    assert error is not None and error.code == "StackBusy"
