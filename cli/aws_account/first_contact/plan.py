"""What a first-contact run will do and the most it can cost, computed before anything is created.

Every step has a deadline the run enforces: a step that overruns fails, and the machines it left running are
terminated at once. So a machine is billed at most for the deadlines of the steps it lives through, plus the
time EC2 takes to stop billing once it is told to terminate (`end_s`, which also covers EC2's one-minute
minimum per launch). Each `wb run` may launch a machine even where it should reuse one; the worst case counts
that machine too. Prices: the instance type's on-demand price from the shipped table, the root volume at a
gp3 price no commercial region exceeds, and the public IPv4 address when the run connects by public IP.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...errors import UsageError

# EBS gp3 storage is $0.08 per GB-month in us-east-1; $0.16 is above its price in every commercial region.
EBS_USD_PER_GB_MONTH = 0.16
HOURS_PER_MONTH = 730.0  # AWS's convention for monthly prices
PUBLIC_IPV4_USD_HOUR = 0.005  # every public IPv4 address, since February 2024 (Amazon VPC pricing)
# The stack's own services for a run of this length: reaper invocations (Lambda, X-Ray), table reads and writes,
# CloudWatch Logs, the staged zip in S3. A few tenths of a cent; counted as half a cent.
SERVICES_USD = 0.005


@dataclass(frozen=True)
class Timing:
    """The run's clock. Leases and the idle window are the doctor stack's; the reaper runs every `period_s`
    (EventBridge's `rate(1 minute)`); `boot_s` is `wb run`'s own wait for a launched machine to boot."""

    lease_s: float
    idle_s: float
    period_s: float = 60.0
    boot_s: float = 600.0
    run_s: float = 120.0  # a run on a machine that is up: connect, sync, start, finish
    end_s: float = 60.0  # from TerminateInstances to the end of billing (and EC2's one-minute minimum)

    @property
    def job_cap_s(self) -> float:
        """`--max-time` of the job whose client is killed: it outlives its client, then ends by its cap."""
        return max(5.0, self.lease_s)

    @property
    def target_s(self) -> float:
        """The project's overspend target for one fault: a lease plus a reaper period (DESIGN §5)."""
        return self.lease_s + self.period_s

    @property
    def kill_wait_s(self) -> float:
        """Once the client is killed: the job's cap, the idle window, then the lease bound, with slack."""
        return self.job_cap_s + self.idle_s + self.target_s + self.period_s

    @property
    def trip_wait_s(self) -> float:
        """Once the budget is used up: the reaper's next runs end the machine."""
        return self.target_s + self.period_s

    @property
    def poll_s(self) -> float:
        return min(2.0, max(0.25, self.lease_s / 20.0))


@dataclass(frozen=True)
class Rate:
    """What one machine costs per hour, and of what."""

    instance_type: str
    instance_usd_hour: float
    volume_gb: int
    public_ipv4: bool

    @property
    def volume_usd_hour(self) -> float:
        return self.volume_gb * EBS_USD_PER_GB_MONTH / HOURS_PER_MONTH

    @property
    def usd_hour(self) -> float:
        return self.instance_usd_hour + self.volume_usd_hour + (PUBLIC_IPV4_USD_HOUR if self.public_ipv4 else 0.0)

    def cost(self, seconds: float) -> float:
        return self.usd_hour * seconds / 3600.0

    def describe(self) -> str:
        parts = [f"{self.instance_type} ${self.instance_usd_hour:g}/h", f"{self.volume_gb} GB gp3 root volume"]
        if self.public_ipv4:
            parts.append("a public IPv4 address")
        return " + ".join(parts) + f" = ${self.usd_hour:.4f}/h"


@dataclass(frozen=True)
class PlannedStep:
    name: str
    deadline_s: float
    machines: int = 0  # how many machines may be billed at once during it
    launches: int = 0  # how many machines it may launch

    @property
    def machine_s(self) -> float:
        return self.deadline_s * self.machines


@dataclass(frozen=True)
class Plan:
    timing: Timing
    rate: Rate
    steps: tuple[PlannedStep, ...]
    cap_usd: float

    @property
    def launches(self) -> int:
        return sum(step.launches for step in self.steps)

    @property
    def worst_machine_s(self) -> float:
        return sum(step.machine_s for step in self.steps) + self.launches * self.timing.end_s

    @property
    def worst_usd(self) -> float:
        return self.rate.cost(self.worst_machine_s) + SERVICES_USD

    def step(self, name: str) -> PlannedStep:
        return next(step for step in self.steps if step.name == name)

    def lines(self) -> list[str]:
        """The plan as shown before anything is created."""
        rows = [f"machine: {self.rate.describe()}"]
        for step in self.steps:
            if step.machines:
                rows.append(
                    f"  {step.name:<14} at most {step.deadline_s / 60:5.1f} min x {step.machines} machine(s)"
                    f"{f', may launch {step.launches}' if step.launches else ''}: ${self.rate.cost(step.machine_s):.4f}"
                )
        rows.append(
            f"  {'ending':<14} {self.launches} machine(s) x {self.timing.end_s:g} s to stop billing: "
            f"${self.rate.cost(self.launches * self.timing.end_s):.4f}"
        )
        rows.append(f"  {'services':<14} Lambda, DynamoDB, Logs, S3 for the stack: ${SERVICES_USD:.4f}")
        rows.append(f"worst case: ${self.worst_usd:.4f}; cap (--spend-up-to): ${self.cap_usd:g}")
        return rows


def planned_steps(timing: Timing) -> tuple[PlannedStep, ...]:
    """The machine steps and their deadlines. `reuse` and `client killed` hold the warm machine and may launch
    a second one; `budget` launches its own (the first has ended by then, or was terminated)."""
    t = timing
    return (
        PlannedStep("first run", t.boot_s + t.run_s, machines=1, launches=1),
        PlannedStep("reuse", t.run_s, machines=2, launches=1),
        PlannedStep("client killed", t.run_s + t.kill_wait_s, machines=2, launches=1),
        PlannedStep("budget", t.boot_s + t.run_s + t.trip_wait_s, machines=1, launches=1),
    )


def make_plan(timing: Timing, rate: Rate, cap_usd: float) -> Plan:
    return Plan(timing, rate, planned_steps(timing), cap_usd)


def refuse_over_cap(plan: Plan) -> None:
    if plan.worst_usd > plan.cap_usd:
        raise UsageError(
            f"the worst case of this run is ${plan.worst_usd:.4f}, above --spend-up-to ${plan.cap_usd:g}:\n  "
            + "\n  ".join(plan.lines()),
            hint=f"raise --spend-up-to to at least {plan.worst_usd:.2f}, or allow a cheaper instance type",
        )


def cheapest_type(
    priced: Iterable[tuple[str, float]], allowed: Sequence[str], offered: set[str], region: str
) -> tuple[str, float]:
    """The cheapest (type, USD/hour) the price table knows, the stack allows (IAM StringLike patterns) and
    the region offers; ties go to the name that sorts first."""
    candidates = sorted(
        (price, name)
        for name, price in priced
        if name in offered and (not allowed or any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed))
    )
    if not candidates:
        raise UsageError(
            f"no instance type is at once priced by wb's table, allowed by the stack ({', '.join(allowed)}) "
            f"and offered in {region}",
            hint="run in another region with --region",
        )
    price, name = candidates[0]
    return name, price
