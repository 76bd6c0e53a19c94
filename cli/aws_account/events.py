"""Stack events: read the new ones as they come, find the failing resource's reason, wait for a terminal state."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .errors import error_message, translated
from .stack import StackInfo, is_terminal

STACK_TYPE = "AWS::CloudFormation::Stack"
# Failures that are only echoes of another resource's failure.
_ECHOES = ("Resource creation cancelled", "Resource update cancelled", "Resource deletion cancelled")


@dataclass(frozen=True)
class StackEvent:
    event_id: str
    timestamp: datetime
    logical_id: str
    resource_type: str
    status: str
    reason: str | None = None

    @classmethod
    def from_api(cls, event: dict[str, Any]) -> StackEvent:
        return cls(
            event_id=event["EventId"],
            timestamp=event["Timestamp"],
            logical_id=event.get("LogicalResourceId", ""),
            resource_type=event.get("ResourceType", ""),
            status=event.get("ResourceStatus", ""),
            reason=event.get("ResourceStatusReason"),
        )

    @property
    def is_failure(self) -> bool:
        return self.status.endswith("_FAILED")

    @property
    def starts_operation(self) -> bool:
        return (
            self.resource_type == STACK_TYPE
            and self.status.endswith("_IN_PROGRESS")
            and self.reason == "User Initiated"
        )


class EventSink(Protocol):
    def events(self, events: Sequence[StackEvent]) -> None: ...

    def waiting(self, status: str) -> None: ...


def _newest_first(cfn: Any, stack: str) -> Iterator[StackEvent]:
    with translated(denied_hint="you need cloudformation:DescribeStackEvents on the weatherballoon stack"):
        for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack):
            for event in page.get("StackEvents", []):
                yield StackEvent.from_api(event)


class EventFeed:
    """The events of one stack that appeared since `mark()`, oldest first, each exactly once."""

    def __init__(self, cfn: Any, stack: str) -> None:
        self.cfn = cfn
        self.stack = stack
        self._seen: set[str] = set()

    def mark(self) -> None:
        """Everything there now is old news (call before starting an operation on an existing stack). The
        newest event is enough: `poll` reads newest first and stops at the first event it has seen."""
        for event in _newest_first(self.cfn, self.stack):
            self._seen.add(event.event_id)
            break

    def poll(self) -> list[StackEvent]:
        fresh: list[StackEvent] = []
        for event in _newest_first(self.cfn, self.stack):
            if event.event_id in self._seen:
                break
            fresh.append(event)
        self._seen.update(event.event_id for event in fresh)
        fresh.reverse()
        return fresh


def root_cause(events: Sequence[StackEvent]) -> StackEvent | None:
    """The first failure of a resource (oldest first), skipping the 'cancelled' echoes of other failures."""
    failures = [e for e in events if e.is_failure and e.reason]
    for event in failures:
        if event.resource_type != STACK_TYPE and not event.reason.startswith(_ECHOES):  # type: ignore[union-attr]
            return event
    return failures[0] if failures else None


def last_operation_failure(cfn: Any, stack: str, limit: int = 500) -> StackEvent | None:
    """The root cause of the stack's most recent operation, read back from its events (newest first)."""
    operation: list[StackEvent] = []
    for count, event in enumerate(_newest_first(cfn, stack)):
        operation.append(event)
        if event.starts_operation or count >= limit:
            break
    operation.reverse()
    return root_cause(operation)


def describe_by_id(cfn: Any, stack_id: str) -> StackInfo:
    """The stack by its id: unlike the name, the id still answers after deletion (DELETE_COMPLETE)."""
    from botocore.exceptions import ClientError

    with translated():
        try:
            answer = cfn.describe_stacks(StackName=stack_id)
        except ClientError as exc:
            if "does not exist" in error_message(exc):
                return StackInfo(name=stack_id, stack_id=stack_id, status="DELETE_COMPLETE")
            raise
    return StackInfo.from_description(answer["Stacks"][0])


def wait_for_stack(
    cfn: Any,
    stack_id: str,
    feed: EventFeed,
    sink: EventSink,
    *,
    poll_s: float = 3.0,
    timeout_s: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[StackInfo, list[StackEvent]]:
    """Show events until the stack reaches a terminal state; return it and the events of this operation."""
    seen: list[StackEvent] = []
    deadline = clock() + timeout_s
    while True:
        info = describe_by_id(cfn, stack_id)
        fresh = feed.poll()
        seen.extend(fresh)
        sink.events(fresh)
        if is_terminal(info.status) and info.status != "REVIEW_IN_PROGRESS":
            return info, seen
        if clock() > deadline:
            from ..errors import AwsError

            raise AwsError(
                f"stack {info.name} is still {info.status} after {timeout_s:.0f} s",
                code="StackTimeout",
                hint="CloudFormation keeps going without wb: watch it in the console, then run `wb doctor`",
            )
        sink.waiting(info.status)
        sleep(poll_s)
