"""Waiting for a stack: moto finishes every operation at once, so the in-progress phase real CloudFormation has
is staged here on an in-process moto server, advanced by the injected `sleep`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import boto3
from weatherballoon.cli.aws_account.events import EventFeed, StackEvent, root_cause, wait_for_stack
from weatherballoon.cli.aws_account.stack import STACK_NAME

from tests.integration.aws_account.conftest import InProcess


class Recorder:
    def __init__(self) -> None:
        self.seen: list[StackEvent] = []
        self.statuses: list[str] = []

    def events(self, events: Sequence[StackEvent]) -> None:
        self.seen.extend(events)

    def waiting(self, status: str) -> None:
        self.statuses.append(status)


def moto_stack() -> Any:
    from moto.cloudformation.models import cloudformation_backends

    return cloudformation_backends["123456789012"]["us-west-2"].get_stack(STACK_NAME)


def resource_event(stack: Any, logical_id: str, status: str, reason: str | None = None) -> None:
    from moto.cloudformation.models import Event

    stack.events.append(
        Event(stack.stack_id, stack.name, logical_id, "x", "AWS::Lambda::Function", status, reason, None)
    )


def staged_update(final: str, failure: str | None = None) -> tuple[Any, Callable[[float], None]]:
    """Put the stack mid-update; each call of the returned `sleep` moves it one step on."""
    stack = moto_stack()
    stack.status = "UPDATE_IN_PROGRESS"
    stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")

    def middle() -> None:
        resource_event(stack, "ReaperFunction", "UPDATE_IN_PROGRESS")

    def end() -> None:
        if failure:
            resource_event(stack, "ReaperFunction", "UPDATE_FAILED", failure)
            resource_event(stack, "ReaperRole", "UPDATE_FAILED", "Resource update cancelled")
        else:
            resource_event(stack, "ReaperFunction", "UPDATE_COMPLETE")
        stack._add_stack_event(final)
        stack.status = final

    steps = iter([middle, end])
    return stack, lambda _: next(steps)()


def test_wait_polls_until_done_and_shows_each_event_once(
    wb_here: Callable[..., InProcess], inprocess_moto: str
) -> None:
    assert wb_here("-q", "bootstrap").code == 0
    cfn = boto3.client("cloudformation")
    stack_id = moto_stack().stack_id
    feed = EventFeed(cfn, stack_id)
    feed.mark()
    _, sleep = staged_update("UPDATE_COMPLETE")
    recorder = Recorder()
    final, events = wait_for_stack(cfn, stack_id, feed, recorder, poll_s=0, sleep=sleep)
    assert final.status == "UPDATE_COMPLETE"
    assert [(e.logical_id, e.status) for e in recorder.seen] == [
        (STACK_NAME, "UPDATE_IN_PROGRESS"),
        ("ReaperFunction", "UPDATE_IN_PROGRESS"),
        ("ReaperFunction", "UPDATE_COMPLETE"),
        (STACK_NAME, "UPDATE_COMPLETE"),
    ]
    assert events == recorder.seen
    assert recorder.statuses == ["UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"]


def test_a_failed_update_yields_its_root_cause(wb_here: Callable[..., InProcess], inprocess_moto: str) -> None:
    assert wb_here("-q", "bootstrap").code == 0
    cfn = boto3.client("cloudformation")
    stack_id = moto_stack().stack_id
    feed = EventFeed(cfn, stack_id)
    feed.mark()
    _, sleep = staged_update("UPDATE_ROLLBACK_COMPLETE", failure="Layer version arn:...:27 does not exist")
    final, events = wait_for_stack(cfn, stack_id, feed, Recorder(), poll_s=0, sleep=sleep)
    assert final.status == "UPDATE_ROLLBACK_COMPLETE"
    cause = root_cause(events)
    assert cause is not None and cause.logical_id == "ReaperFunction" and "does not exist" in (cause.reason or "")
