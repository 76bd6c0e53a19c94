"""What every step of a first-contact run works with: the AWS session, the run's names, plan, machines and
clients, and the one way to wait, which watches the spending cap and the step's deadline on every tick."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from ...errors import WbError
from .meter import check_cap

if TYPE_CHECKING:
    from weatherballoon.lambdas.dynamo_store import DynamoStore
    from weatherballoon.lambdas.records import InstanceRecord

    from ..events import EventSink
    from ..session import AwsSession, CallerIdentity
    from ..stack import StackInfo
    from .clients import Workspace
    from .fleet import RunFleet
    from .names import RunNames
    from .plan import Plan
    from .preflight import Preflight

T = TypeVar("T")


class StepFailed(WbError):
    """A step saw something other than what it checks for; `message` says what."""


@dataclass
class RunContext:
    aws: AwsSession
    preflight: Preflight
    fleet: RunFleet
    workspace: Workspace
    say: Callable[[str], None]
    sink: EventSink  # stack events, as `wb bootstrap` shows them
    stack: StackInfo | None = None
    step_deadline_at: float = float("inf")  # monotonic; set by the run for each step
    reaper_run_s: float = 0.0  # the longest reaper run seen (its heartbeat's own duration)
    facts: dict[str, object] = field(default_factory=dict)  # what one step leaves for the next (the warm machine)

    @property
    def region(self) -> str:
        return self.aws.region

    @property
    def identity(self) -> CallerIdentity:
        return self.preflight.identity

    @property
    def names(self) -> RunNames:
        return self.preflight.names

    @property
    def plan(self) -> Plan:
        return self.preflight.plan

    def store(self) -> DynamoStore:
        from ..ledger import open_store

        if self.stack is None:
            raise StepFailed("the stack is not deployed")
        return open_store(self.aws, self.stack)

    def tick(self) -> None:
        """Between waits: refresh the run's machines and stop before the spending cap would be passed."""
        machines = self.fleet.refresh()
        check_cap(machines, self.plan.rate, time.time(), self.plan.cap_usd, self.plan.timing.end_s)

    def wait_until(self, check: Callable[[], T | None], timeout_s: float, what: str) -> T:
        """`check()`'s first true value, polled every `poll_s` for `timeout_s` (never past the step's deadline);
        StepFailed when the time is up."""
        deadline = min(time.monotonic() + timeout_s, self.step_deadline_at)
        while True:
            self.tick()
            found = check()
            if found:
                return found
            if time.monotonic() >= deadline:
                limit = f"{timeout_s:g} s" if deadline < self.step_deadline_at else "the step's deadline"
                raise StepFailed(f"{what}: not within {limit}")
            time.sleep(min(self.plan.timing.poll_s, max(0.0, deadline - time.monotonic())))

    def row(self, instance_id: str) -> InstanceRecord | None:
        from weatherballoon.lambdas.schema import instance_arn

        arn = instance_arn(self.region, self.identity.account, instance_id)
        return self.store().get_instance(self.identity.user_id, arn)

    def observe_reaper(self) -> float | None:
        """When the reaper last finished a run (None: never); keeps the longest run's duration."""
        beat = self.store().get_heartbeat()
        if beat is None:
            return None
        self.reaper_run_s = max(self.reaper_run_s, beat.finished_at - beat.started_at)
        return beat.finished_at

    def bound_s(self) -> float:
        """One fault's overspend bound: a lease, a reaper period, the longest reaper run, and one poll."""
        self.observe_reaper()
        timing = self.plan.timing
        return timing.target_s + self.reaper_run_s + timing.poll_s
