"""The pure reap decision: every reason, its boundaries, and the precedence between reasons."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from weatherballoon.lambdas.budgets import Budgets, BudgetState, Ledger, budget_state
from weatherballoon.lambdas.decision import (
    PRECEDENCE,
    Action,
    DecisionConfig,
    Reason,
    applicable_reasons,
    decide,
    decide_missing,
)
from weatherballoon.lambdas.records import InstanceState
from weatherballoon.lambdas.schema import Scope

from .builders import T0, facts, job, row

CONFIG = DecisionConfig(orphan_grace_s=600, job_cap_grace_s=120, default_team="default")
OK = BudgetState()


def reason(now: float, **kw: object) -> Reason:
    d = decide(kw.get("f", facts()), kw.get("r", row()), kw.get("jobs", []), kw.get("b", OK), now, CONFIG)
    return d.reason


def test_required_reason_strings() -> None:
    required = {"lease-expired", "max-lifetime", "owner-budget", "team-budget", "orphan", "marked"}
    assert required <= {r.value for r in PRECEDENCE}


def test_keep_within_lease() -> None:
    d = decide(facts(), row(), [], OK, T0 + 299, CONFIG)
    assert (d.action, d.reason) == (Action.KEEP, Reason.LEASE_VALID)


@pytest.mark.parametrize("now, expected", [(T0 + 299.9, Reason.LEASE_VALID), (T0 + 300, Reason.LEASE_EXPIRED)])
def test_lease_expired_boundary(now: float, expected: Reason) -> None:
    assert reason(now) == expected


@pytest.mark.parametrize("now, expected", [(T0 + 999, Reason.LEASE_VALID), (T0 + 1000, Reason.MAX_LIFETIME)])
def test_max_lifetime_boundary(now: float, expected: Reason) -> None:
    assert reason(now, r=row(lease_until=T0 + 5000, max_until=T0 + 1000)) == expected


def test_marked() -> None:
    d = decide(facts(), row(mark="wb down"), [], OK, T0 + 1, CONFIG)
    assert (d.action, d.reason) == (Action.TERMINATE, Reason.MARKED)
    assert "wb down" in d.detail


@pytest.mark.parametrize(
    "spent, limit, expected",
    [
        (9.99, 10.0, Reason.LEASE_VALID),
        (10.0, 10.0, Reason.OWNER_BUDGET),
        (0.0, 0.0, Reason.OWNER_BUDGET),
        (1e6, None, Reason.LEASE_VALID),
    ],
)
def test_owner_budget_boundary(spent: float, limit: float | None, expected: Reason) -> None:
    assert reason(T0 + 1, b=BudgetState(owner_spent=spent, owner_limit=limit)) == expected


@pytest.mark.parametrize("spent, expected", [(99.0, Reason.LEASE_VALID), (100.0, Reason.TEAM_BUDGET)])
def test_team_budget_boundary(spent: float, expected: Reason) -> None:
    assert reason(T0 + 1, b=BudgetState(team_spent=spent, team_limit=100.0)) == expected


@pytest.mark.parametrize("age, expected", [(599, Reason.ORPHAN_GRACE), (600, Reason.ORPHAN)])
def test_orphan_grace_measured_from_launch(age: float, expected: Reason) -> None:
    d = decide(facts(launched_at=T0), None, [], OK, T0 + age, CONFIG)
    assert d.reason == expected
    assert d.terminate is (expected is Reason.ORPHAN)


def test_closed_row_counts_as_no_row() -> None:
    assert reason(T0 + 601, r=row(state=InstanceState.CLOSED, lease_until=T0 + 9999)) == Reason.ORPHAN


def test_untagged_instance_is_never_terminated_whatever_the_row_says() -> None:
    d = decide(facts(managed=False), row(mark="x", lease_until=T0), [], BudgetState(0, 0), T0 + 10**6, CONFIG)
    assert (d.action, d.reason) == (Action.KEEP, Reason.NOT_MANAGED)
    d = decide(facts(managed=False), None, [], OK, T0 + 10**6, CONFIG)
    assert d.action is Action.KEEP


@pytest.mark.parametrize("state", ["shutting-down", "terminated"])
def test_instances_on_their_way_out_are_left_alone(state: str) -> None:
    d = decide(facts(state=state), row(lease_until=T0), [], OK, T0 + 1000, CONFIG)
    assert (d.action, d.reason) == (Action.KEEP, Reason.ALREADY_TERMINATING)


def test_a_pending_instance_is_judged() -> None:
    assert reason(T0 + 300, f=facts(state="pending")) == Reason.LEASE_EXPIRED


@pytest.mark.parametrize("state", ["stopping", "stopped"])
def test_a_stopped_wb_instance_is_ended_whatever_its_lease(state: str) -> None:
    # wb never stops a machine: a stopped one bills its volumes, and starting it would reset LaunchTime.
    assert reason(T0 + 60, r=row(lease_until=T0 + 5000), f=facts(state=state)) == Reason.STOPPED


def test_job_max_time_waits_for_the_grace() -> None:
    # job started at T0+10 with a 60 s cap: breached at T0+70, reaper acts at T0+190
    long_lease = row(lease_until=T0 + 5000)
    jobs = [job(max_time_s=60.0)]
    assert reason(T0 + 189, r=long_lease, jobs=jobs) == Reason.LEASE_VALID
    assert reason(T0 + 190, r=long_lease, jobs=jobs) == Reason.JOB_MAX_TIME


def test_job_max_cost_uses_the_row_price_and_the_grace() -> None:
    # price 3600 $/h = 1 $/s; cap $30; started T0+10 -> breached T0+40, reaper acts at T0+160
    pricey = row(lease_until=T0 + 5000, price_usd_hour=3600.0)
    jobs = [job(max_cost_usd=30.0)]
    assert reason(T0 + 159, r=pricey, jobs=jobs) == Reason.LEASE_VALID
    assert reason(T0 + 160, r=pricey, jobs=jobs) == Reason.JOB_MAX_COST


def test_ended_jobs_do_not_count() -> None:
    jobs = [job(max_time_s=1.0, ended_at=T0 + 11)]
    assert reason(T0 + 1000, r=row(lease_until=T0 + 5000), jobs=jobs) == Reason.LEASE_VALID


def all_reasons_at_once() -> dict[Reason, str]:
    return applicable_reasons(
        facts(state="stopped"), row(mark="m", max_until=T0 + 100, lease_until=T0 + 50, price_usd_hour=3600.0),
        [job(max_time_s=1.0, max_cost_usd=0.01)], BudgetState(10, 1, 10, 1), T0 + 10_000, CONFIG,
    )  # fmt: skip


def test_every_row_reason_can_hold_at_once() -> None:
    assert set(all_reasons_at_once()) == set(PRECEDENCE) - {Reason.ORPHAN}


ROW_REASONS = {Reason.MARKED, Reason.MAX_LIFETIME, Reason.JOB_MAX_COST, Reason.JOB_MAX_TIME, Reason.LEASE_EXPIRED}
# An orphan has no row, so it cannot meet a row reason; every other pair can hold together.
POSSIBLE_PAIRS = [p for p in itertools.combinations(PRECEDENCE, 2) if not (Reason.ORPHAN in p and ROW_REASONS & set(p))]


def test_orphan_excludes_row_reasons() -> None:
    found = applicable_reasons(facts(), None, [job(max_time_s=1.0)], OK, T0 + 10_000, CONFIG)
    assert set(found) == {Reason.ORPHAN}


@pytest.mark.parametrize("pair", POSSIBLE_PAIRS, ids=lambda p: f"{p[0].value}>{p[1].value}")
def test_precedence_between_every_pair(pair: tuple[Reason, Reason]) -> None:
    """Build a situation where exactly these two reasons hold; the earlier one in PRECEDENCE wins."""
    first, second = pair
    wanted = {first, second}
    now = T0 + 10_000
    r = None if Reason.ORPHAN in wanted else row(
        mark="m" if Reason.MARKED in wanted else None,
        max_until=T0 + 100 if Reason.MAX_LIFETIME in wanted else T0 + 10**6,
        lease_until=T0 + 50 if Reason.LEASE_EXPIRED in wanted else T0 + 10**6,
        price_usd_hour=3600.0,
    )  # fmt: skip
    jobs = [job(max_time_s=1.0 if Reason.JOB_MAX_TIME in wanted else None,
                max_cost_usd=0.01 if Reason.JOB_MAX_COST in wanted else None)]  # fmt: skip
    budget = BudgetState(
        owner_spent=10, owner_limit=1 if Reason.OWNER_BUDGET in wanted else None,
        team_spent=10, team_limit=1 if Reason.TEAM_BUDGET in wanted else None,
    )  # fmt: skip
    f = facts(state="stopped" if Reason.STOPPED in wanted else "running")
    found = applicable_reasons(f, r, jobs, budget, now, CONFIG)
    assert set(found) == wanted
    assert decide(f, r, jobs, budget, now, CONFIG).reason is first


def test_budget_state_from_rows_and_defaults() -> None:
    budgets = Budgets({"AIDAALICE": 50.0}, {}, default_owner_usd=10.0, default_team_usd=None)
    ledger = Ledger("2026-11")
    ledger.add(Scope.OWNER, "AIDAALICE", 20.0)
    ledger.add(Scope.OWNER, "AIDABOB", 20.0)
    ledger.add(Scope.TEAM, "ml", 40.0)
    alice = budget_state(budgets, ledger, "AIDAALICE", "ml")
    bob = budget_state(budgets, ledger, "AIDABOB", "ml")
    assert not alice.owner_exceeded and alice.owner_left == 30.0  # her row overrides the default
    assert bob.owner_exceeded and bob.owner_left == 0.0  # the default applies to him
    assert not alice.team_exceeded and alice.team_left is None


def test_decide_missing_closes_only_after_the_grace() -> None:
    assert decide_missing(row(), T0 + 599, CONFIG).action is Action.KEEP
    d = decide_missing(row(), T0 + 600, CONFIG)
    assert (d.action, d.reason) == (Action.CLOSE, Reason.INSTANCE_GONE)
    assert decide_missing(row(state=InstanceState.CLOSED), T0 + 9999, CONFIG).action is Action.KEEP


def test_max_lifetime_from_launch_time_overrides_a_longer_row() -> None:
    capped = DecisionConfig(orphan_grace_s=600, job_cap_grace_s=120, max_lifetime_s=3600)
    r = row(lease_until=T0 + 10**6, max_until=T0 + 10**6)
    assert decide(facts(), r, [], OK, T0 + 3599, capped).reason == Reason.LEASE_VALID
    assert decide(facts(), r, [], OK, T0 + 3600, capped).reason == Reason.MAX_LIFETIME


def test_budget_reasons_never_show_a_nonzero_amount_as_zero() -> None:
    """A budget of $0.0001 read "$0.00" (issue 9, misleading messages)."""
    found = applicable_reasons(facts(), row(), [], BudgetState(0.00015, 0.0001, 2.5, 1.0), T0 + 1, CONFIG)
    assert found[Reason.OWNER_BUDGET] == "owner spent $0.00015 of $0.0001"
    assert found[Reason.TEAM_BUDGET] == "team spent $2.50 of $1.00"


def test_a_stop_and_start_does_not_reset_the_lifetime() -> None:
    # EC2 moves LaunchTime on every start; the meter keeps the first start it saw, and without one the root
    # volume's attach time (which a stop and start keeps) is used.
    capped = DecisionConfig(orphan_grace_s=600, job_cap_grace_s=120, max_lifetime_s=3600)
    r = row(lease_until=T0 + 10**6, max_until=T0 + 10**6)
    restarted = facts(launched_at=T0 + 3000)
    assert decide(restarted, r, [], OK, T0 + 3600, capped).reason == Reason.LEASE_VALID  # what EC2 alone says
    assert decide(restarted, r, [], OK, T0 + 3600, capped, lifetime_start=T0).reason == Reason.MAX_LIFETIME
    attached = dataclasses.replace(restarted, first_attached_at=T0)
    assert decide(attached, r, [], OK, T0 + 3600, capped).reason == Reason.MAX_LIFETIME


def test_a_deleted_row_is_an_orphan_counted_from_the_first_start() -> None:
    restarted = facts(launched_at=T0 + 9000)
    assert decide(restarted, None, [], OK, T0 + 9100, CONFIG).reason == Reason.ORPHAN_GRACE
    assert decide(restarted, None, [], OK, T0 + 9100, CONFIG, lifetime_start=T0).reason == Reason.ORPHAN


def test_job_caps_are_judged_at_the_meter_price_not_the_rows() -> None:
    free = row(lease_until=T0 + 5000, price_usd_hour=0.0)  # a member lowered the row's price
    jobs = [job(max_cost_usd=30.0)]
    assert decide(facts(), free, jobs, OK, T0 + 160, CONFIG, price_usd_hour=3600.0).reason == Reason.JOB_MAX_COST
