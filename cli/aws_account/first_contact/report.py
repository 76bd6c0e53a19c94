"""The first-contact report: each step with its result and duration, the overspend measured for each fault,
the machines and what they cost, and what (if anything) is left to remove by hand. Printed, and kept as
`report.txt` and `report.json` in the run's log folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .meter import Machine
from .plan import Plan, Rate


@dataclass(frozen=True)
class Fault:
    """A fault the run made, and how long the machine was billed past the moment it should have stopped."""

    instance_id: str
    basis: str  # what `should_stop_at` is: "its last lease", "the moment the budget ran out"
    should_stop_at: float
    ended_at: float
    bound_s: float
    ended_by: str
    fault_at: float

    @property
    def overspend_s(self) -> float:
        return self.ended_at - self.should_stop_at

    @property
    def after_fault_s(self) -> float:
        return self.ended_at - self.fault_at

    @property
    def within_bound(self) -> bool:
        return self.overspend_s <= self.bound_s


@dataclass(frozen=True)
class StepResult:
    name: str
    status: str  # ok, FAIL, skip
    duration_s: float
    detail: str
    fault: Fault | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Report:
    region: str
    account: str
    stack: str
    log_dir: Path
    plan: Plan | None = None
    steps: list[StepResult] = field(default_factory=list)
    machines: list[Machine] = field(default_factory=list)
    cost_usd: float = 0.0
    leftovers: list[str] = field(default_factory=list)  # what the teardown could not remove, with the command

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps) and not self.leftovers

    def lines(self) -> list[str]:
        out = [f"wb doctor --live: {self.region}, account {self.account}, stack {self.stack}", ""]
        out.append(f"{'STEP':<14} {'RESULT':<6} {'TIME':>7}  DETAIL")
        for step in self.steps:
            out.append(f"{step.name:<14} {step.status:<6} {step.duration_s:>6.1f}s  {step.detail}")
        faults = [step for step in self.steps if step.fault is not None]
        if faults:
            out += ["", "overspend: time billed past the moment spending should have stopped"]
            for step in faults:
                f = step.fault
                assert f is not None
                verdict = "within" if f.within_bound else "OVER"
                out.append(
                    f"  {step.name:<14} {f.instance_id}  {f.overspend_s:+.1f} s past {f.basis} ({verdict} the bound "
                    f"of {f.bound_s:.1f} s); ended by {f.ended_by}, {f.after_fault_s:.1f} s after the fault"
                )
        if self.plan is not None:
            rate = self.plan.rate
            out += ["", f"machines ({rate.describe()}):"]
            for m in sorted(self.machines, key=lambda m: m.launched_at):
                billed = m.billed_s(m.ended_at or m.launched_at)
                out.append(f"  {m.instance_id}  {m.instance_type}  {m.state:<13} billed {billed:.0f} s")
            out.append(
                f"estimated cost: ${self.cost_usd:.4f} (worst case planned ${self.plan.worst_usd:.4f}, "
                f"cap ${self.plan.cap_usd:g})"
            )
        if self.leftovers:
            out += ["", "NOT REMOVED, remove by hand:"] + [f"  {line}" for line in self.leftovers]
        passed = sum(step.ok for step in self.steps)
        verdict = "PASSED" if self.passed else "FAILED"
        out += ["", f"logs: {self.log_dir}", f"result: {verdict} ({passed}/{len(self.steps)} steps ok)"]
        return out

    def as_json(self) -> dict[str, Any]:
        def fault(f: Fault | None) -> dict[str, Any] | None:
            return None if f is None else {**asdict(f), "overspend_s": f.overspend_s, "within_bound": f.within_bound}

        plan = self.plan
        return {
            "region": self.region,
            "account": self.account,
            "stack": self.stack,
            "passed": self.passed,
            "steps": [
                {"name": s.name, "status": s.status, "duration_s": s.duration_s, "detail": s.detail}
                | {"fault": fault(s.fault)}
                for s in self.steps
            ],
            "machines": [asdict(m) for m in self.machines],
            "cost_usd": self.cost_usd,
            "worst_usd": plan.worst_usd if plan else None,
            "cap_usd": plan.cap_usd if plan else None,
            "rate": _rate(plan.rate) if plan else None,
            "leftovers": self.leftovers,
        }

    def save(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.log_dir / "report.txt").write_text("\n".join(self.lines()) + "\n")
        (self.log_dir / "report.json").write_text(json.dumps(self.as_json(), indent=1) + "\n")


def _rate(rate: Rate) -> dict[str, Any]:
    return {**asdict(rate), "usd_hour": rate.usd_hour}
