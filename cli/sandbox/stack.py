"""The supervision stack in the sandbox's moto, deployed by the real `wb bootstrap` code (plan + deploy),
and what the rest of the sandbox needs from it: the table, the bucket and the reaper's environment."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..aws.events import StackEvent
from ..aws.session import AwsSession
from .errors import SandboxError
from .records import SandboxOptions

POLL_S = 0.25  # moto settles at once; the real CloudFormation is polled every 3 s


@dataclass(frozen=True)
class StackFacts:
    table_name: str
    bucket: str
    reaper_function: str
    reaper_env: dict[str, str]  # the Lambda's environment, as the stack configured it


class _LogSink:
    """Stack events as daemon log lines (the daemon has no terminal)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def events(self, events: Sequence[StackEvent]) -> None:
        for event in events:
            self.say(f"stack event: {event.logical_id} {event.status}")

    def waiting(self, status: str) -> None:
        pass


def bootstrap(aws: AwsSession, options: SandboxOptions, say: Callable[[str], None]) -> StackFacts:
    """`wb bootstrap --lease-minutes M --idle-minutes M` into the sandbox's moto."""
    from ..aws.deploy import apply
    from ..aws.plan import BootstrapRequest, prepare

    request = BootstrapRequest(lease_minutes=options.lease_minutes, idle_minutes=options.idle_minutes)
    deployment = prepare(aws, request)
    outcome = apply(deployment, aws, _LogSink(say), say, poll_s=POLL_S)
    if outcome.stack is None:
        raise SandboxError("wb bootstrap deployed no stack into the sandbox")
    stack = outcome.stack
    function = stack.output("ReaperFunctionName")
    configuration = aws.client("lambda").get_function_configuration(FunctionName=function)
    variables = configuration.get("Environment", {}).get("Variables", {})
    return StackFacts(
        table_name=stack.output("TableName"),
        bucket=stack.output("BucketName"),
        reaper_function=function,
        reaper_env={key: str(value) for key, value in variables.items()},
    )
