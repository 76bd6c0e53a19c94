"""Doctor's verdicts: a denied look is 'cannot tell' (warn), any other error a failure; skips never fail."""

from __future__ import annotations

from weatherballoon.cli.aws.doctor import Check, check_error
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
