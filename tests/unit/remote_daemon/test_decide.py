"""The daemon's pure decision: facts and `now` in, a plan out."""

from __future__ import annotations

from typing import Any

import pytest
from weatherballoon.lambdas import schema
from weatherballoon.lambdas.lease import PowerOff
from weatherballoon.lambdas.records import InstanceRecord, InstanceState, JobRow
from weatherballoon.remote.daemon.decide import Facts, cost_cap_time, decide

NOW = 1_800_000_000.0
ARN = schema.instance_arn("us-west-2", "123456789012", "i-0abc")
LEASE_MIN = 5.0
IDLE_MIN = 10.0


def row(**changes: Any) -> InstanceRecord:
    base = InstanceRecord(
        owner="AIDAX", instance_arn=ARN, instance_type="g5.xlarge", launched_at=NOW - 600,
        lease_until=NOW + 120, max_until=NOW + 3600, price_usd_hour=1.0, state=InstanceState.BUSY,
    )  # fmt: skip
    return base.replace(**changes)


def job(job_id: str = "j1", **changes: Any) -> JobRow:
    return JobRow("AIDAX", ARN, job_id, ("python",), NOW - 60).replace(**changes)


def facts(**changes: Any) -> Facts:
    values: dict[str, Any] = {
        "now": NOW, "lease_minutes": LEASE_MIN, "idle_minutes": IDLE_MIN, "renew_seconds": 30.0,
        "last_contact": NOW, "row": row(), "row_seen": True, "contact_ok": True,
    }  # fmt: skip
    values.update(changes)
    return Facts(**values)


def test_a_running_job_renews_to_now_plus_lease_minutes_busy() -> None:
    plan = decide(facts(running=("j1",)))
    assert plan.power_off is None and plan.lease is not None
    assert (plan.lease.until, plan.lease.state) == (NOW + LEASE_MIN * 60, InstanceState.BUSY)
    assert plan.wake_at == NOW + 30.0


def test_renewal_never_passes_the_lifetime_nor_shortens_the_lease() -> None:
    capped = decide(facts(running=("j1",), row=row(max_until=NOW + 100)))
    assert capped.lease is not None and capped.lease.until == NOW + 100
    longer = decide(facts(running=("j1",), row=row(lease_until=NOW + 900)))
    assert longer.lease is not None and longer.lease.until == NOW + 900


def test_after_the_last_job_the_warm_window_is_set_once() -> None:
    plan = decide(facts(was_busy=True))
    assert plan.lease is not None
    assert (plan.lease.until, plan.lease.state) == (NOW + IDLE_MIN * 60, InstanceState.IDLE)
    assert decide(facts(was_busy=False)).lease is None  # idle: someone else (a client) renews, or nobody


def test_idle_wakes_exactly_at_the_lease_end() -> None:
    assert decide(facts(row=row(lease_until=NOW + 3))).wake_at == NOW + 3
    assert decide(facts(running=("j1",), row=row(lease_until=NOW + 3))).wake_at == NOW + 30  # renewing anyway


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"row": row(mark="down by AIDAX")}, PowerOff.MARKED),
        ({"row": row(state=InstanceState.TERMINATING, reap_reason="budget")}, PowerOff.TERMINATING),
        ({"row": row(state=InstanceState.CLOSED)}, PowerOff.CLOSED),
        ({"row": row(max_until=NOW)}, PowerOff.MAX_LIFETIME),
        ({"row": row(lease_until=NOW - 1)}, PowerOff.LEASE_EXPIRED),
        ({"row": None}, PowerOff.ROW_MISSING),
        ({"last_contact": NOW - LEASE_MIN * 60, "contact_ok": False}, PowerOff.CONTROL_PLANE_LOST),
    ],
)
def test_power_off_reasons(changes: dict[str, Any], reason: PowerOff) -> None:
    plan = decide(facts(**changes))
    assert plan.power_off is reason and plan.lease is None and plan.detail


def test_marked_powers_off_even_mid_job() -> None:
    assert decide(facts(running=("j1",), row=row(mark="down"))).power_off is PowerOff.MARKED


def test_a_renewed_lease_that_lapses_while_the_table_is_silent_is_control_plane_lost() -> None:
    plan = decide(facts(running=("j1",), row=row(lease_until=NOW - 0.1), last_contact=NOW - 299, contact_ok=False))
    assert plan.power_off is PowerOff.CONTROL_PLANE_LOST
    assert "lease ended" in plan.detail


def test_never_read_row_waits_for_the_control_plane_limit_only() -> None:
    waiting = decide(facts(row=None, row_seen=False, contact_ok=False, last_contact=NOW - 10))
    assert waiting.power_off is None and waiting.lease is None
    assert waiting.wake_at == NOW + 30
    lost = decide(facts(row=None, row_seen=False, contact_ok=False, last_contact=NOW - LEASE_MIN * 60))
    assert lost.power_off is PowerOff.CONTROL_PLANE_LOST


def test_without_contact_this_pass_nothing_is_written() -> None:
    assert decide(facts(running=("j1",), contact_ok=False, last_contact=NOW - 60)).lease is None


def test_a_job_over_its_cost_cap_is_stopped_once() -> None:
    over = job(max_cost_usd=0.01)  # $1/h: 36 s of it
    plan = decide(facts(running=("j1",), job_rows={"j1": over}, started_at={"j1": NOW - 60}))
    assert [(s.job_id, round(s.cost_usd, 4), s.cap_usd) for s in plan.stops] == [("j1", 0.0167, 0.01)]
    assert plan.stops[0].reached_at == pytest.approx(NOW - 24)
    again = decide(facts(running=("j1",), job_rows={"j1": over}, stopping=frozenset({"j1"})))
    assert again.stops == ()


def test_a_cost_cap_ahead_sets_the_wake_up_time() -> None:
    capped = job(max_cost_usd=1 / 120)  # 30 s of $1/h
    plan = decide(facts(running=("j1",), job_rows={"j1": capped}, started_at={"j1": NOW - 10}))
    assert plan.stops == () and plan.wake_at == pytest.approx(NOW + 20)


def test_no_price_or_no_cap_stops_nothing() -> None:
    rows = {"j1": job(max_cost_usd=0.0001)}
    assert decide(facts(running=("j1",), job_rows=rows, row=row(price_usd_hour=0.0))).stops == ()
    assert decide(facts(running=("j1",), job_rows={"j1": job()})).stops == ()


def test_cost_cap_time() -> None:
    assert cost_cap_time(100.0, 2.0, 3600.0) == 102.0
