"""What one reaper run did: typed, so the handler turns it into logs and metrics and tests assert on it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .decision import Action, Reason

T = TypeVar("T")


@dataclass(frozen=True)
class DecisionRecord:
    instance_id: str
    owner: str
    team: str
    action: Action
    reason: Reason
    detail: str = ""
    applied: bool = False  # terminate: EC2 acknowledged it; close: the row was closed


@dataclass(frozen=True)
class Failure:
    stage: str  # describe | load | budgets | price | accrue | volumes | terminate | row | close | audit | heartbeat
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.stage} {self.subject}: {self.message}"


@dataclass
class RunReport:
    run_id: str
    mode: str
    started_at: float
    finished_at: float = 0.0
    seen: int = 0  # wb-tagged instances EC2 listed
    rows: int = 0  # live instance rows
    decisions: list[DecisionRecord] = field(default_factory=list)
    accrued_rows: int = 0
    accrued_usd: float = 0.0
    accrual_conflicts: int = 0
    jobs_closed: int = 0
    meters_closed: int = 0
    unpriced: list[str] = field(default_factory=list)  # charged at the conservative fallback price
    unprotected: list[str] = field(default_factory=list)  # termination protection lifted to end them
    volumes_fixed: list[str] = field(default_factory=list)  # kept volumes set to DeleteOnTermination=true
    terminate_calls: int = 0
    failures: list[Failure] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # step -> wall seconds

    def timed(self, phase: str, work: Callable[..., T], *args: Any) -> T:
        """Run one step of the run, adding its wall time to `phases`."""
        began = time.perf_counter()
        try:
            return work(*args)
        finally:
            self.phases[phase] = self.phases.get(phase, 0.0) + time.perf_counter() - began

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, stage: str, subject: str, exc: BaseException | str) -> None:
        message = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.failures.append(Failure(stage, subject, message))

    def by_action(self, action: Action) -> list[DecisionRecord]:
        return [d for d in self.decisions if d.action is action]

    def terminated(self) -> dict[str, Reason]:
        """instance id -> reason, for terminations EC2 acknowledged."""
        return {d.instance_id: d.reason for d in self.by_action(Action.TERMINATE) if d.applied}

    def closed(self) -> list[str]:
        return [d.instance_id for d in self.by_action(Action.CLOSE) if d.applied]

    def reasons(self, action: Action = Action.TERMINATE) -> Counter[str]:
        return Counter(d.reason.value for d in self.by_action(action))

    def counts(self) -> dict[str, int]:
        return {
            "seen": self.seen,
            "rows": self.rows,
            "kept": len(self.by_action(Action.KEEP)),
            "terminate": len(self.by_action(Action.TERMINATE)),
            "terminated": len(self.terminated()),
            "close": len(self.by_action(Action.CLOSE)),
            "closed": len(self.closed()),
            "jobs_closed": self.jobs_closed,
            "meters_closed": self.meters_closed,
            "unpriced": len(self.unpriced),
            "unprotected": len(self.unprotected),
            "volumes_fixed": len(self.volumes_fixed),
            "accrued": self.accrued_rows,
            "accrual_conflicts": self.accrual_conflicts,
            "terminate_calls": self.terminate_calls,
            "failures": len(self.failures),
        }

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what the handler returns and logs."""
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "duration_s": round(self.finished_at - self.started_at, 3),
            "counts": self.counts(),
            "accrued_usd": round(self.accrued_usd, 6),
            "terminated": {i: r.value for i, r in sorted(self.terminated().items())},
            "reasons": dict(self.reasons()),
            "unpriced": sorted(self.unpriced)[:50],
            "phases_s": {name: round(seconds, 3) for name, seconds in self.phases.items()},
            "failures": [str(f) for f in self.failures[:50]],
        }
