"""Doctor's verdicts: a denied look is 'cannot tell' (warn), any other error a failure; skips never fail."""

from __future__ import annotations

import pytest
from weatherballoon.cli.aws_account.doctor import Check, check_error, check_supervision_settings
from weatherballoon.cli.aws_account.stack import StackInfo
from weatherballoon.cli.errors import AwsError


def test_denied_is_a_warning() -> None:
    check = check_error(
        "reaper", AwsError("not allowed to lambda:GetFunction (AccessDeniedException)", code="AccessDeniedException")
    )
    assert (check.ok, check.label, check.failed) == (None, "warn", False)
    assert check.detail.startswith("cannot tell: not allowed to lambda:GetFunction")


def test_other_errors_fail_and_skips_do_not() -> None:
    check = check_error(
        "table", AwsError("DescribeTable failed: ResourceNotFoundException", code="ResourceNotFoundException")
    )
    assert (check.label, check.failed) == ("FAIL", True)
    skipped = Check("table", False, "needs the stack", skipped=True)
    assert (skipped.label, skipped.failed) == ("skip", False)


def stack(**outputs: str) -> StackInfo:
    return StackInfo(name="weatherballoon", stack_id="id", status="UPDATE_COMPLETE", outputs=outputs)


@pytest.mark.parametrize("output", ["DefaultLeaseMinutes", "DefaultIdleMinutes", "InstanceMaxHours"])
def test_supervision_settings_out_of_range_fail(output: str) -> None:
    """Doctor said all was well while every member's `wb run` crashed on a nan lease (issue 9 item 7)."""
    check = check_supervision_settings(stack(**{output: "nan"}))
    assert (check.label, check.failed) == ("FAIL", True)
    assert output in check.detail and "wb bootstrap --" in (check.fix or "")


def test_supervision_settings_in_range_pass() -> None:
    check = check_supervision_settings(stack(DefaultLeaseMinutes="5", DefaultIdleMinutes="0", InstanceMaxHours="24"))
    assert check.ok is True and check.detail == "DefaultLeaseMinutes 5, DefaultIdleMinutes 0, InstanceMaxHours 24"
