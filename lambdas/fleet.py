"""EC2 as the reaper sees it: list wb's instances, price spot ones, end some. Implementations: `Ec2Fleet`,
`InMemoryFleet`.

The public `terminate` does the batching, the failure isolation and the removal of termination protection;
subclasses implement one call each.

A member may launch with termination protection (`DisableApiTermination`) or with volumes kept after
termination (`DeleteOnTermination=false`): no IAM condition key exists for either on RunInstances. The reaper
lifts both on wb instances (ModifyInstanceAttribute, granted only on `wb:managed=true` instances): protection
when EC2 refuses a termination because of it, kept volumes as soon as it sees them, so a machine that
powers itself off leaves nothing billing either.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Tuple  # noqa: UP035 -- see SpotKey

from .decision import InstanceFacts
from .errors import FleetError

MAX_TERMINATE_BATCH = 1000  # TerminateInstances takes at most 1000 ids
PROTECTED = "OperationNotPermitted"  # EC2's code for a termination refused by DisableApiTermination
PROTECTION_ROUNDS = 20  # one protected instance is named per refusal; a batch is retried after each
_INSTANCE_ID = re.compile(r"\bi-[0-9a-f]{8,17}\b")

SpotKey = Tuple[str, str]  # noqa: UP006 -- (instance type, availability zone); evaluated at import on 3.8


@dataclass
class TerminateOutcome:
    terminated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # instance id -> error
    refused: list[str] = field(default_factory=list)  # not tagged wb:managed: never sent to EC2
    unprotected: list[str] = field(default_factory=list)  # termination protection the reaper lifted
    calls: int = 0


class Fleet(ABC):
    @abstractmethod
    def describe_managed(self) -> list[InstanceFacts]:
        """Every instance tagged `wb:managed=true` that is not terminated (paged)."""

    @abstractmethod
    def _terminate_batch(self, ids: list[str]) -> list[str]:
        """One TerminateInstances call; returns the ids EC2 acknowledged. Raises FleetError."""

    @abstractmethod
    def allow_termination(self, instance_id: str) -> None:
        """Lift termination protection (DisableApiTermination=false). Raises FleetError."""

    @abstractmethod
    def delete_volumes_on_termination(self, instance_id: str, device_names: Sequence[str]) -> None:
        """Set DeleteOnTermination=true on the named block devices. Raises FleetError."""

    @abstractmethod
    def spot_prices(self, wanted: Iterable[SpotKey]) -> dict[SpotKey, float]:
        """The newest Linux spot price per (instance type, zone) EC2 publishes; absent when none. Raises
        FleetError."""

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
        for _ in range(PROTECTION_ROUNDS):
            outcome.calls += 1
            try:
                acknowledged = set(self._terminate_batch(ids))
                break
            except FleetError as exc:
                if not self._lifted_protection(exc, ids, outcome):
                    return self._failed(ids, exc, outcome, bisect)
        else:
            stuck = FleetError("protection kept coming back", operation="TerminateInstances", code=PROTECTED)
            return self._failed(ids, stuck, outcome, bisect)
        outcome.terminated.extend(i for i in ids if i in acknowledged)
        outcome.failed.update((i, "not acknowledged by TerminateInstances") for i in ids if i not in acknowledged)
        return True

    def _lifted_protection(self, exc: FleetError, ids: list[str], outcome: TerminateOutcome) -> bool:
        """When EC2 refused because of termination protection, lift it on the instance it names."""
        if exc.code != PROTECTED:
            return False
        named = [i for i in _INSTANCE_ID.findall(str(exc)) if i in ids and i not in outcome.unprotected]
        if not named and len(ids) == 1 and ids[0] not in outcome.unprotected:
            named = list(ids)
        for instance_id in named:
            try:
                self.allow_termination(instance_id)
            except FleetError:
                return False
            outcome.unprotected.append(instance_id)
        return bool(named)

    def _failed(self, ids: list[str], exc: FleetError, outcome: TerminateOutcome, bisect: bool) -> bool:
        if len(ids) == 1 or not bisect:
            outcome.failed.update((i, str(exc)) for i in ids)
        else:
            self._bisect(ids, outcome)
        return False

    def _bisect(self, ids: list[str], outcome: TerminateOutcome) -> None:
        middle = len(ids) // 2
        halves = (ids[:middle], ids[middle:])
        trial = TerminateOutcome()
        results = [self._attempt(half, trial, bisect=False) for half in halves]
        outcome.calls += trial.calls
        outcome.terminated.extend(trial.terminated)
        outcome.unprotected.extend(trial.unprotected)
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
