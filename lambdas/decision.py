"""The reap decision: a pure function of EC2 facts, the row, the jobs, budgets and `now`.

Precedence, when several reasons hold at once (the first one is reported and recorded):

1. `marked`        someone asked for termination (`wb down`, an admin); the most deliberate signal.
2. `owner-budget`  the owner's month reached its budget: every one of their instances goes.
3. `team-budget`   the team's month reached its budget: every team instance goes.
4. `max-lifetime`  `now >= max_until` (the row's launch + maxHours), and with `max_lifetime_s` set also
                   `now >= lifetime start + max_lifetime_s`: neither renewals nor the row can extend it.
5. `stopped`       EC2 says stopping or stopped. wb never stops a machine; a stopped one still bills its
                   volumes, and a start would only serve to reset EC2's LaunchTime.
6. `job-max-cost`  a running job's cost passed its `--max-cost` (+ grace): the agent should have stopped it.
7. `job-max-time`  a running job passed its `--max-time` (+ grace): same backstop.
8. `lease-expired` `now >= lease_until`: nobody renewed; the ordinary end of an idle machine.
9. `orphan`        tagged, but no live row `orphan_grace_s` after its lifetime start (a client died
                   mid-launch, or the row was deleted).
10. `gang-member-ended` another machine of its gang (`wb run --nodes`) ended or is being ended
                   (`lambdas.gang`); decided in a second pass over the KEEPs, so a member's own reason wins.

The lifetime start is the reaper's own record (its meter) of the earliest start it saw: EC2's LaunchTime
moves on every stop and start, the meter's start never does. Without a meter it is the earlier of LaunchTime
and the root volume's attach time, which a stop and start leaves alone.

Budgets come before the per-instance reasons because they explain the most: a user who lost several
machines at once learns why from any one of them. `orphan` and the row reasons (4, 6-8, and `marked`)
exclude each other: an orphan has no row to carry them. A row in state `closed` counts as no row.

All boundaries are inclusive: a lease ending at `t` is expired at `t`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from . import schema, tags
from .budgets import BudgetState
from .money import format_usd
from .records import InstanceRecord, JobRow


class Action(str, Enum):
    KEEP = "keep"
    TERMINATE = "terminate"
    CLOSE = "close"  # the instance is gone: close its row, stop accruing


class Reason(str, Enum):
    # terminate
    MARKED = "marked"
    OWNER_BUDGET = "owner-budget"
    TEAM_BUDGET = "team-budget"
    MAX_LIFETIME = "max-lifetime"
    STOPPED = "stopped"
    JOB_MAX_COST = "job-max-cost"
    JOB_MAX_TIME = "job-max-time"
    LEASE_EXPIRED = "lease-expired"
    ORPHAN = "orphan"
    GANG_MEMBER_ENDED = "gang-member-ended"
    # keep
    LEASE_VALID = "lease-valid"
    ORPHAN_GRACE = "orphan-grace"
    ALREADY_TERMINATING = "already-terminating"
    NOT_MANAGED = "not-managed"
    # close
    INSTANCE_GONE = "instance-gone"
    AWAITING_INSTANCE = "awaiting-instance"


PRECEDENCE: tuple[Reason, ...] = (
    Reason.MARKED,
    Reason.OWNER_BUDGET,
    Reason.TEAM_BUDGET,
    Reason.MAX_LIFETIME,
    Reason.STOPPED,
    Reason.JOB_MAX_COST,
    Reason.JOB_MAX_TIME,
    Reason.LEASE_EXPIRED,
    Reason.ORPHAN,
)
# `gang-member-ended` is no instance's own reason: the gang pass gives it to KEEPs after `decide`.
TERMINATE_REASONS = frozenset((*PRECEDENCE, Reason.GANG_MEMBER_ENDED))

# EC2 states in which an instance still costs, or may cost again; and those on their way out.
LIVE_STATES = frozenset({"pending", "running", "stopping", "stopped"})
GONE_STATES = frozenset({"shutting-down", "terminated"})
BILLED_STATES = frozenset({"pending", "running"})
STOPPED_STATES = frozenset({"stopping", "stopped"})


@dataclass(frozen=True)
class InstanceFacts:
    """What EC2 says about one instance."""

    instance_id: str
    state: str
    launched_at: float
    instance_type: str
    region: str
    account: str
    tags: Mapping[str, str] = field(default_factory=dict)
    spot: bool = False
    partition: str = "aws"
    zone: str = ""
    first_attached_at: float | None = None  # the earliest EBS attach time: a stop and start keeps it
    volumes_kept_on_termination: tuple[str, ...] = ()  # device names with DeleteOnTermination=false

    @property
    def started_at(self) -> float:
        """The earliest start EC2 shows: LaunchTime, or the root volume's attach time when earlier."""
        if self.first_attached_at is None or self.first_attached_at <= 0:
            return self.launched_at
        return min(self.launched_at, self.first_attached_at)

    @property
    def arn(self) -> str:
        return schema.instance_arn(self.region, self.account, self.instance_id, self.partition)

    @property
    def managed(self) -> bool:
        return tags.is_managed(self.tags)

    @property
    def owner(self) -> str:
        return self.tags.get(tags.OWNER, "")

    def team(self, default: str) -> str:
        return self.tags.get(tags.TEAM) or default

    @property
    def billed(self) -> bool:
        return self.state in BILLED_STATES


@dataclass(frozen=True)
class DecisionConfig:
    orphan_grace_s: float = 600.0
    job_cap_grace_s: float = 120.0
    default_team: str = "default"
    max_lifetime_s: float | None = None  # the stack's maxHours, counted from EC2's launch time


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason
    detail: str = ""

    @property
    def terminate(self) -> bool:
        return self.action is Action.TERMINATE


def _usd(amount: float | None) -> str:
    return "no limit" if amount is None else format_usd(amount)


def _live(row: InstanceRecord | None) -> InstanceRecord | None:
    return row if row is not None and not row.closed else None


def job_reasons(jobs: Iterable[JobRow], price_usd_hour: float, now: float, grace_s: float) -> list[tuple[Reason, str]]:
    """Cap breaches of running jobs, judged `grace_s` late so the agent gets to enforce them first."""
    found: list[tuple[Reason, str]] = []
    for job in jobs:
        if not job.running:
            continue
        late = now - grace_s - job.started_at
        if job.max_cost_usd is not None and price_usd_hour > 0:
            cost = max(0.0, late) * price_usd_hour / 3600.0
            if cost >= job.max_cost_usd:
                found.append((Reason.JOB_MAX_COST, f"job {job.job_id} cost ${cost:.4f} >= ${job.max_cost_usd}"))
        if job.max_time_s is not None and late >= job.max_time_s:
            found.append((Reason.JOB_MAX_TIME, f"job {job.job_id} ran {now - job.started_at:.0f}s"))
    return found


def applicable_reasons(
    facts: InstanceFacts,
    row: InstanceRecord | None,
    jobs: Sequence[JobRow],
    budget: BudgetState,
    now: float,
    config: DecisionConfig,
    price_usd_hour: float | None = None,
    lifetime_start: float | None = None,
) -> dict[Reason, str]:
    """Every termination reason that holds, with a human detail; `decide` picks one by PRECEDENCE.
    `lifetime_start` is the meter's (default: what EC2 shows, `facts.started_at`); `price_usd_hour` the
    meter's (default: the row's, for callers without a meter)."""
    found: dict[Reason, str] = {}
    start = facts.started_at if lifetime_start is None else min(lifetime_start, facts.started_at)
    if facts.state in STOPPED_STATES:
        found[Reason.STOPPED] = f"EC2 says {facts.state}; wb never stops a machine"
    live = _live(row)
    if live is not None and live.mark:
        found[Reason.MARKED] = f"marked: {live.mark}"
    if budget.owner_exceeded:
        found[Reason.OWNER_BUDGET] = f"owner spent {_usd(budget.owner_spent)} of {_usd(budget.owner_limit)}"
    if budget.team_exceeded:
        found[Reason.TEAM_BUDGET] = f"team spent {_usd(budget.team_spent)} of {_usd(budget.team_limit)}"
    if live is None:
        age = now - start
        if age >= config.orphan_grace_s:
            found[Reason.ORPHAN] = f"no row {age:.0f}s after launch"
        return found
    max_until = live.max_until
    if config.max_lifetime_s is not None:
        max_until = min(max_until, start + config.max_lifetime_s)  # a row cannot extend it
    if now >= max_until:
        found[Reason.MAX_LIFETIME] = f"lifetime ended {now - max_until:.0f}s ago"
    price = live.price_usd_hour if price_usd_hour is None else price_usd_hour
    for reason, detail in job_reasons(jobs, price, now, config.job_cap_grace_s):
        found.setdefault(reason, detail)
    if now >= live.lease_until:
        found[Reason.LEASE_EXPIRED] = f"lease ended {now - live.lease_until:.0f}s ago"
    return found


def decide(
    facts: InstanceFacts,
    row: InstanceRecord | None,
    jobs: Sequence[JobRow],
    budget: BudgetState,
    now: float,
    config: DecisionConfig,
    price_usd_hour: float | None = None,
    lifetime_start: float | None = None,
) -> Decision:
    """KEEP or TERMINATE one EC2 instance, with the reason. Never TERMINATE an instance without the
    `wb:managed=true` tag, whatever the row says."""
    if not facts.managed:
        return Decision(Action.KEEP, Reason.NOT_MANAGED)
    if facts.state in GONE_STATES:
        return Decision(Action.KEEP, Reason.ALREADY_TERMINATING, facts.state)
    found = applicable_reasons(facts, row, jobs, budget, now, config, price_usd_hour, lifetime_start)
    for reason in PRECEDENCE:
        if reason in found:
            return Decision(Action.TERMINATE, reason, found[reason])
    if _live(row) is None:
        start = facts.started_at if lifetime_start is None else min(lifetime_start, facts.started_at)
        return Decision(Action.KEEP, Reason.ORPHAN_GRACE, f"launched {now - start:.0f}s ago")
    return Decision(Action.KEEP, Reason.LEASE_VALID)


def decide_missing(row: InstanceRecord, now: float, config: DecisionConfig) -> Decision:
    """A live row whose instance EC2 no longer lists (or lists as terminated): CLOSE it, unless the row is
    younger than the orphan grace (DescribeInstances is eventually consistent right after launch)."""
    if row.closed:
        return Decision(Action.KEEP, Reason.INSTANCE_GONE, "already closed")
    if now - row.launched_at < config.orphan_grace_s:
        return Decision(Action.KEEP, Reason.AWAITING_INSTANCE)
    return Decision(Action.CLOSE, Reason.INSTANCE_GONE)
