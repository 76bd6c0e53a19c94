"""`wb bootstrap --dry-run`: a change set is created, described and deleted; nothing is deployed or staged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AwsError
from .deploy import CAPABILITIES, template_argument
from .errors import error_message, translated
from .parameters import ParameterChange
from .plan import ADMIN_HINT, Deployment

NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


@dataclass(frozen=True)
class ResourceChange:
    action: str  # Add, Modify, Remove, Import, Dynamic
    logical_id: str
    resource_type: str
    replacement: str | None = None  # True, False, Conditional (Modify only)

    @classmethod
    def from_api(cls, change: dict[str, Any]) -> ResourceChange:
        resource = change.get("ResourceChange", {})
        return cls(
            action=resource.get("Action", "?"),
            logical_id=resource.get("LogicalResourceId", "?"),
            resource_type=resource.get("ResourceType", "?"),
            replacement=resource.get("Replacement"),
        )


@dataclass(frozen=True)
class DryRun:
    creating: bool
    resources: list[ResourceChange] = field(default_factory=list)
    parameters: list[ParameterChange] = field(default_factory=list)
    template_changed: bool = False

    @property
    def empty(self) -> bool:
        return not self.resources and not self.parameters and not self.template_changed


def _wait_created(
    cfn: Any, change_set_id: str, poll_s: float, timeout_s: float, sleep: Callable[[float], None]
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        with translated(denied_hint=ADMIN_HINT):
            answer: dict[str, Any] = cfn.describe_change_set(ChangeSetName=change_set_id)
        if answer.get("Status") in ("CREATE_COMPLETE", "FAILED"):
            return answer
        if time.monotonic() > deadline:
            raise AwsError(f"the change set is still {answer.get('Status')} after {timeout_s:.0f} s", code="Timeout")
        sleep(poll_s)


def _changes(cfn: Any, change_set_id: str, first: dict[str, Any]) -> list[ResourceChange]:
    found = [ResourceChange.from_api(c) for c in first.get("Changes", [])]
    token = first.get("NextToken")
    while token:
        with translated(denied_hint=ADMIN_HINT):
            page = cfn.describe_change_set(ChangeSetName=change_set_id, NextToken=token)
        found += [ResourceChange.from_api(c) for c in page.get("Changes", [])]
        token = page.get("NextToken")
    return found


def dry_run(
    deployment: Deployment,
    aws: Any,
    *,
    poll_s: float = 2.0,
    timeout_s: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DryRun:
    creating = deployment.existing is None
    if deployment.no_changes:
        return DryRun(creating=False)
    cfn = aws.client("cloudformation")
    if deployment.needs_template_url:
        deployment.staging.ensure()  # the one thing a dry run stages: a template too big to send inline
    name = f"wb-dry-run-{int(time.time())}"
    with translated(denied_hint=ADMIN_HINT):
        created = cfn.create_change_set(
            StackName=deployment.request.stack_name,
            ChangeSetName=name,
            ChangeSetType="CREATE" if creating else "UPDATE",
            Parameters=deployment.plan.api,
            Capabilities=CAPABILITIES,
            Description="wb bootstrap --dry-run (deleted right after it is described)",
            **template_argument(deployment),
        )
    change_set_id, stack_id = created["Id"], created["StackId"]
    try:
        described = _wait_created(cfn, change_set_id, poll_s, timeout_s, sleep)
        if described.get("Status") == "FAILED":
            reason = str(described.get("StatusReason", ""))
            if not any(marker in reason for marker in NO_CHANGES):
                raise AwsError(f"CloudFormation rejected the change set: {reason}", code="ChangeSetFailed")
            resources: list[ResourceChange] = []
        else:
            resources = _changes(cfn, change_set_id, described)
    finally:
        _clean_up(cfn, change_set_id, stack_id if creating else None)
    return DryRun(creating, resources, deployment.plan.changes, deployment.template_changed)


def _clean_up(cfn: Any, change_set_id: str, review_stack_id: str | None) -> None:
    """Delete the change set and, for a stack that did not exist, the empty REVIEW_IN_PROGRESS stack it made."""
    from botocore.exceptions import ClientError

    with translated(denied_hint=ADMIN_HINT):
        try:
            cfn.delete_change_set(ChangeSetName=change_set_id)
        except ClientError as exc:
            if "does not exist" not in error_message(exc):
                raise
        if review_stack_id is not None:
            cfn.delete_stack(StackName=review_stack_id)
