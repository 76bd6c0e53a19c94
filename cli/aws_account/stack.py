"""The supervision stack as the client sees it: a typed snapshot of DescribeStacks, and its states."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from weatherballoon.lambdas import limits

from ..errors import AwsError, ConfigError
from .errors import error_code, error_message, translated

STACK_NAME = "weatherballoon"  # infra/stack.py names the CDK stack the same

SUCCEEDED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE", "DELETE_COMPLETE"})
# Terminal states where the last operation did not do what was asked.
FAILED = frozenset(
    {
        "CREATE_FAILED",
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "DELETE_FAILED",
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_FAILED",
        "UPDATE_FAILED",
        "IMPORT_ROLLBACK_COMPLETE",
        "IMPORT_ROLLBACK_FAILED",
    }
)
# A stack in these states can be updated again (an earlier failed update was rolled back cleanly).
UPDATABLE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"})
# A creation that never succeeded leaves a stack that can only be deleted.
DEAD_ON_ARRIVAL = frozenset({"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"})

# The stack outputs that carry supervision numbers: their range, and the `wb bootstrap` flag that sets them.
SUPERVISION_OUTPUTS: dict[str, tuple[limits.Range, str]] = {
    "DefaultLeaseMinutes": (limits.LEASE_MINUTES, "--lease-minutes"),
    "DefaultIdleMinutes": (limits.IDLE_MINUTES, "--idle-minutes"),
    "InstanceMaxHours": (limits.MAX_HOURS, "--max-hours"),
    "MaxLaunchVolumeGiB": (limits.MAX_VOLUME_GIB, "--max-volume-gib"),
}


def is_terminal(status: str) -> bool:
    return status in SUCCEEDED or status in FAILED or status == "REVIEW_IN_PROGRESS"


@dataclass(frozen=True)
class StackInfo:
    name: str
    stack_id: str
    status: str
    status_reason: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_description(cls, stack: dict[str, Any]) -> StackInfo:
        return cls(
            name=stack["StackName"],
            stack_id=stack["StackId"],
            status=stack["StackStatus"],
            status_reason=stack.get("StackStatusReason"),
            parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
            outputs={o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", []) or []},
        )

    def number_output(self, key: str) -> float | None:
        """A supervision number (a key of SUPERVISION_OUTPUTS), checked against its range: None when the stack
        has no such output; a ConfigError when its value is not a number in range (a stack deployed by hand, or
        by a wb that did not check)."""
        raw = self.outputs.get(key)
        if raw is None or raw == "":
            return None
        limit, flag = SUPERVISION_OUTPUTS[key]
        try:
            return limit.parse(raw)
        except ValueError as exc:
            raise ConfigError(
                f"stack {self.name}: output {key}: {exc}",
                hint=f"an admin sets it again with `wb bootstrap {flag} VALUE`; `wb doctor` checks the stack",
            ) from None

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise AwsError(
                f"stack {self.name} has no output {key!r}",
                code="MissingOutput",
                hint="the stack is older than this client: an admin runs `wb bootstrap` to update it",
            )
        return value


def is_missing_stack(exc: BaseException) -> bool:
    return error_code(exc) == "ValidationError" and "does not exist" in error_message(exc)


def describe_stack(cfn: Any, name: str = STACK_NAME) -> StackInfo | None:
    """The stack, or None when there is none by that name (deleted stacks count as none)."""
    from botocore.exceptions import ClientError

    with translated(denied_hint="you need cloudformation:DescribeStacks on the weatherballoon stack"):
        try:
            answer = cfn.describe_stacks(StackName=name)
        except ClientError as exc:
            if is_missing_stack(exc):
                return None
            raise
    stacks = answer.get("Stacks", [])
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    return StackInfo.from_description(stacks[0])


def require_stack(cfn: Any, region: str, name: str = STACK_NAME) -> StackInfo:
    """The deployed stack, or an error that says to bootstrap (for budget, costs and the provider)."""
    stack = describe_stack(cfn, name)
    if stack is None or stack.status == "REVIEW_IN_PROGRESS":
        raise AwsError(
            f"no {name} stack in {region}" if name != STACK_NAME else f"no weatherballoon stack in {region}",
            code="NoStack",
            hint="an admin deploys it once with `wb bootstrap`; or pick the region with --region / AWS_REGION",
        )
    return stack
