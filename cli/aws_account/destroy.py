"""`wb bootstrap --destroy`: refuse while wb instances live, else delete the stack and the staging bucket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import AwsError
from .deploy import Outcome
from .errors import translated
from .events import EventFeed, EventSink, last_operation_failure, root_cause, wait_for_stack
from .fleet import LiveInstance, live_instances
from .plan import ADMIN_HINT
from .session import AwsSession
from .stack import STACK_NAME, describe_stack
from .staging import Staging
from .states import cause_text

LISTED_MAX = 20


def retained_resources(cfn: Any, stack_id: str) -> list[tuple[str, str, str]]:
    """(logical id, type, physical id) of the resources CloudFormation keeps on deletion (DeletionPolicy Retain)."""
    from .plan import deployed_template

    template = deployed_template(cfn, stack_id) or {}
    keep = {name for name, body in template.get("Resources", {}).items() if body.get("DeletionPolicy") == "Retain"}
    if not keep:
        return []
    found = []
    with translated(denied_hint=ADMIN_HINT):
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id):
            for item in page.get("StackResourceSummaries", []):
                if item["LogicalResourceId"] in keep and item.get("PhysicalResourceId"):
                    found.append((item["LogicalResourceId"], item["ResourceType"], item["PhysicalResourceId"]))
    return sorted(found)


def instances_block(instances: Sequence[LiveInstance]) -> AwsError:
    shown = [f"{i.instance_id} ({i.state}, {i.instance_type}, owner {i.owner})" for i in instances[:LISTED_MAX]]
    more = f", and {len(instances) - LISTED_MAX} more" if len(instances) > LISTED_MAX else ""
    return AwsError(
        f"{len(instances)} wb instance(s) still exist, and the stack supervises them: " + ", ".join(shown) + more,
        code="InstancesLive",
        hint="terminate them first with `wb down --all` (then wait until they are terminated)",
    )


def destroy(
    aws: AwsSession, sink: EventSink, say: Any, *, stack_name: str = STACK_NAME, poll_s: float = 3.0
) -> Outcome:
    identity = aws.identity()
    live = live_instances(aws.client("ec2"))
    if live:
        raise instances_block(live)
    cfn = aws.client("cloudformation")
    staging = Staging(aws.client("s3"), account=identity.account, region=aws.region)
    stack = describe_stack(cfn, stack_name)
    if stack is None:
        removed = staging.remove()
        if removed:
            say(f"removed the staging bucket {staging.bucket} ({removed} objects)")
        return Outcome("absent", None)
    kept = retained_resources(cfn, stack.stack_id)
    feed = EventFeed(cfn, stack.stack_id)
    feed.mark()
    with translated(denied_hint=ADMIN_HINT):
        cfn.delete_stack(StackName=stack.stack_id)
    final, events = wait_for_stack(cfn, stack.stack_id, feed, sink, poll_s=poll_s)
    if final.status != "DELETE_COMPLETE":
        failure = root_cause(events) or last_operation_failure(cfn, stack.stack_id)
        raise AwsError(
            f"deleting stack {stack.name} failed: it is {final.status}. Cause: {cause_text(failure, final)}",
            code=final.status,
            hint="fix the cause (often a resource changed by hand), then run `wb bootstrap --destroy` again",
        )
    removed = staging.remove()
    say(f"removed the staging bucket {staging.bucket} ({removed} objects)")
    for logical_id, kind, physical_id in kept:
        say(f"kept {physical_id} ({kind} {logical_id}, DeletionPolicy Retain): job outputs and logs outlive the stack")
    return Outcome("deleted", final, events)
