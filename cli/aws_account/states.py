"""Which stack states block `wb bootstrap`, and the message for each: a pure function of the stack and the
root cause read from its events."""

from __future__ import annotations

from ..errors import AwsError
from .events import StackEvent
from .stack import DEAD_ON_ARRIVAL, UPDATABLE, StackInfo


def cause_text(failure: StackEvent | None, stack: StackInfo) -> str:
    if failure is not None:
        return f"{failure.logical_id} ({failure.resource_type}): {failure.reason}"
    return stack.status_reason or "CloudFormation recorded no reason"


def blocking_error(stack: StackInfo | None, failure: StackEvent | None) -> AwsError | None:
    """None when bootstrap may create or update; otherwise the error to show."""
    if stack is None or stack.status in UPDATABLE or stack.status == "REVIEW_IN_PROGRESS":
        return None
    name, status = stack.name, stack.status
    if status in DEAD_ON_ARRIVAL:
        return AwsError(
            f"stack {name} is in {status}: its creation failed and it must be deleted before bootstrap can create "
            f"it again. Cause: {cause_text(failure, stack)}",
            code=status,
            hint="fix the cause, then run `wb bootstrap --destroy` and `wb bootstrap` again",
        )
    if status == "UPDATE_ROLLBACK_FAILED":
        return AwsError(
            f"stack {name} is in UPDATE_ROLLBACK_FAILED: an update failed and so did its rollback. "
            f"Cause: {cause_text(failure, stack)}",
            code=status,
            hint=f"fix the cause, then: aws cloudformation continue-update-rollback --stack-name {name}; "
            "then run `wb bootstrap` again",
        )
    if status == "DELETE_FAILED":
        return AwsError(
            f"stack {name} is in DELETE_FAILED. Cause: {cause_text(failure, stack)}",
            code=status,
            hint="fix the cause (often a resource changed by hand), then run `wb bootstrap --destroy` again",
        )
    if status.endswith("_IN_PROGRESS"):
        return AwsError(
            f"stack {name} is busy ({status})",
            code="StackBusy",
            hint="wait until CloudFormation finishes (`wb doctor` shows the state), then run `wb bootstrap` again",
        )
    return AwsError(
        f"stack {name} is in {status}; wb cannot update it. Cause: {cause_text(failure, stack)}",
        code=status,
        hint="inspect it in the CloudFormation console",
    )
