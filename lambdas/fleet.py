"""EC2 as the reaper sees it: list wb's instances, terminate some. Implementations: `Ec2Fleet`, `InMemoryFleet`.

The public `terminate` does the batching and the failure isolation; subclasses implement one call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from .decision import InstanceFacts
from .errors import FleetError

MAX_TERMINATE_BATCH = 1000  # TerminateInstances takes at most 1000 ids


@dataclass
class TerminateOutcome:
    terminated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # instance id -> error
    refused: list[str] = field(default_factory=list)  # not tagged wb:managed: never sent to EC2
    calls: int = 0


class Fleet(ABC):
    @abstractmethod
    def describe_managed(self) -> list[InstanceFacts]:
        """Every instance tagged `wb:managed=true` that is not terminated (paged)."""

    @abstractmethod
    def _terminate_batch(self, ids: list[str]) -> list[str]:
        """One TerminateInstances call; returns the ids EC2 acknowledged. Raises FleetError."""

    def terminate(self, instances: Sequence[InstanceFacts], batch_size: int = MAX_TERMINATE_BATCH) -> TerminateOutcome:
        """Terminate in batches of `batch_size`. Instances without the wb:managed tag are refused here,
        whatever the caller decided. A failing batch is bisected to isolate the ids that fail (a poison id
        fails the whole call in EC2); when both halves fail the failure is systemic and bisection stops.
        Every batch is attempted, so one failure never hides the others."""
        if not 1 <= batch_size <= MAX_TERMINATE_BATCH:
            raise ValueError(f"batch size must be 1..{MAX_TERMINATE_BATCH}, got {batch_size}")
        outcome = TerminateOutcome()
        ids: list[str] = []
        for facts in instances:
            if facts.managed:
                ids.append(facts.instance_id)
            else:
                outcome.refused.append(facts.instance_id)
        ids = list(dict.fromkeys(ids))
        for start in range(0, len(ids), batch_size):
            self._attempt(ids[start : start + batch_size], outcome, bisect=True)
        return outcome

    def _attempt(self, ids: list[str], outcome: TerminateOutcome, bisect: bool) -> bool:
        outcome.calls += 1
        try:
            acknowledged = set(self._terminate_batch(ids))
        except FleetError as exc:
            if len(ids) == 1 or not bisect:
                outcome.failed.update((i, str(exc)) for i in ids)
                return False
            self._bisect(ids, outcome)
            return False
        outcome.terminated.extend(i for i in ids if i in acknowledged)
        outcome.failed.update((i, "not acknowledged by TerminateInstances") for i in ids if i not in acknowledged)
        return True

    def _bisect(self, ids: list[str], outcome: TerminateOutcome) -> None:
        middle = len(ids) // 2
        halves = (ids[:middle], ids[middle:])
        trial = TerminateOutcome()
        results = [self._attempt(half, trial, bisect=False) for half in halves]
        outcome.calls += trial.calls
        outcome.terminated.extend(trial.terminated)
        failed_halves = [half for half, ok in zip(halves, results) if not ok]  # noqa: B905 -- runs on 3.8
        if len(failed_halves) == 2:
            outcome.failed.update(trial.failed)  # systemic: stop here
            return
        for half in failed_halves:
            if len(half) == 1:
                outcome.failed.update((i, trial.failed[i]) for i in half)
            else:
                self._bisect(half, outcome)


def failure(operation: str, exc: Exception) -> FleetError:
    response = getattr(exc, "response", None) or {}
    code = response.get("Error", {}).get("Code")
    return FleetError(f"EC2 {operation} failed: {code or type(exc).__name__}: {exc}", operation=operation, code=code)
