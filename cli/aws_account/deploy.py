"""Create or update the stack from a prepared `Deployment`, showing its events until a terminal state."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import AwsError
from .errors import error_code, error_message, translated
from .events import EventFeed, EventSink, StackEvent, root_cause, wait_for_stack
from .plan import ADMIN_HINT, Deployment
from .stack import SUCCEEDED, StackInfo
from .states import cause_text

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
NO_UPDATES = "No updates are to be performed"


@dataclass(frozen=True)
class Outcome:
    """`action`: created, updated, unchanged, deleted or absent."""

    action: str
    stack: StackInfo | None
    events: list[StackEvent] = field(default_factory=list)


def template_argument(deployment: Deployment) -> dict[str, str]:
    """Inline when it fits CloudFormation's 51,200 bytes, else staged next to the code and passed by URL."""
    if not deployment.needs_template_url:
        return {"TemplateBody": deployment.body}
    data = deployment.body.encode()
    key = f"templates/{hashlib.sha256(data).hexdigest()}.json"
    deployment.staging.put(key, data)
    return {"TemplateURL": deployment.staging.url(key)}


def stage(deployment: Deployment, say: Any) -> None:
    if deployment.staging.ensure():
        say(f"created the staging bucket {deployment.staging.bucket}")
    if deployment.staging.put(deployment.bundle.key, deployment.bundle.data):
        say(f"staged the reaper code s3://{deployment.staging.bucket}/{deployment.bundle.key}")


def remove_leftover(cfn: Any, deployment: Deployment, sink: EventSink, poll_s: float) -> None:
    """An empty REVIEW_IN_PROGRESS stack (from an interrupted dry run) blocks CreateStack: delete it first."""
    if deployment.leftover is None:
        return
    feed = EventFeed(cfn, deployment.leftover.stack_id)
    feed.mark()
    with translated(denied_hint=ADMIN_HINT):
        cfn.delete_stack(StackName=deployment.leftover.stack_id)
    wait_for_stack(cfn, deployment.leftover.stack_id, feed, sink, poll_s=poll_s)


def apply(deployment: Deployment, aws: Any, sink: EventSink, say: Any, *, poll_s: float = 3.0) -> Outcome:
    if deployment.no_changes:
        return Outcome("unchanged", deployment.existing)
    cfn = aws.client("cloudformation")
    stage(deployment, say)
    common: dict[str, Any] = {
        "StackName": deployment.request.stack_name,
        "Parameters": deployment.plan.api,
        "Capabilities": CAPABILITIES,
        **template_argument(deployment),
    }
    if deployment.existing is None:
        remove_leftover(cfn, deployment, sink, poll_s)
        with translated(denied_hint=ADMIN_HINT):
            stack_id = cfn.create_stack(**common)["StackId"]
        feed = EventFeed(cfn, stack_id)
        action = "created"
    else:
        stack_id = deployment.existing.stack_id
        feed = EventFeed(cfn, stack_id)
        feed.mark()
        from botocore.exceptions import ClientError

        with translated(denied_hint=ADMIN_HINT):
            try:
                cfn.update_stack(**common)
            except ClientError as exc:
                if error_code(exc) == "ValidationError" and NO_UPDATES in error_message(exc):
                    return Outcome("unchanged", deployment.existing)
                raise
        action = "updated"
    final, events = wait_for_stack(cfn, stack_id, feed, sink, poll_s=poll_s)
    if final.status not in SUCCEEDED:
        verb = "creating" if action == "created" else "updating"
        raise AwsError(
            f"{verb} stack {final.name} failed: it is {final.status}. Cause: {cause_text(root_cause(events), final)}",
            code=final.status,
            hint="fix the cause, then run `wb bootstrap --destroy` and `wb bootstrap` again"
            if action == "created"
            else "fix the cause and run `wb bootstrap` again; the stack was rolled back to its previous state",
        )
    deployment.staging.prune("reaper/", keep=deployment.bundle.key)
    return Outcome(action, final, events)
