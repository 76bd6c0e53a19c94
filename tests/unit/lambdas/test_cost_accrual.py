"""Accrual arithmetic: minutes x price / 60, month splits, ledger sums, transaction packing."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from weatherballoon.lambdas import clock
from weatherballoon.lambdas.accrual import ledger_increments, pack, plan_accrual, usd_for
from weatherballoon.lambdas.meter import MeterRecord, Price, PriceSource
from weatherballoon.lambdas.schema import Scope

from .builders import T0, meter


def priced(usd_hour: float, **changes: Any) -> MeterRecord:
    return meter(price=Price(usd_hour, PriceSource.TABLE), **changes)


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc).timestamp()


def test_usd_is_minutes_times_price_over_sixty() -> None:
    assert usd_for(60, 1.2) == pytest.approx(0.02)
    assert usd_for(3600, 1.006) == pytest.approx(1.006)
    assert usd_for(0, 5.0) == 0


def test_first_accrual_starts_at_the_lifetime_start() -> None:
    plan = plan_accrual(priced(6.0), T0 + 600, billed=True)
    assert plan is not None
    assert (plan.read_until, plan.start, plan.until) == (None, T0, T0 + 600)
    assert plan.usd == pytest.approx(1.0)
    assert plan.attributes["accrued_until"] == T0 + 600 and plan.attributes["price_usd_hour"] == 6.0


def test_next_accrual_starts_where_the_last_ended_and_is_conditional_on_it() -> None:
    plan = plan_accrual(priced(6.0, accrued_until=T0 + 600), T0 + 660, billed=True)
    assert plan is not None and plan.read_until == T0 + 600 and plan.seconds == 60
    assert plan.usd == pytest.approx(0.1)


def test_nothing_to_accrue() -> None:
    assert plan_accrual(priced(6.0, accrued_until=T0 + 600), T0 + 600, True) is None
    assert plan_accrual(priced(6.0, accrued_until=T0 + 600), T0 + 500, True) is None  # clock behind
    assert plan_accrual(priced(6.0), T0 - 1, True) is None


def test_a_new_meter_is_written_even_with_nothing_to_charge_yet() -> None:
    plan = plan_accrual(priced(6.0), T0, True)
    assert plan is not None and plan.usd == 0 and plan.read_until is None


def test_stopped_instances_advance_at_zero_cost() -> None:
    plan = plan_accrual(priced(6.0), T0 + 600, billed=False)
    assert plan is not None and plan.usd == 0 and plan.until == T0 + 600
    assert plan.ledger_keys() == []


def test_accruals_compose_to_the_same_total() -> None:
    """Charging in many small steps equals charging once: nothing lost or added by splitting."""
    record, total = priced(1.006), 0.0
    for step in range(1, 31):
        plan = plan_accrual(record, T0 + 61.7 * step, True)
        assert plan is not None
        total += plan.usd
        record = record.replace(accrued_until=plan.until)
    assert total == pytest.approx(usd_for(61.7 * 30, 1.006), rel=1e-12)


def test_month_boundary_is_split() -> None:
    start, end = ts(2026, 11, 30, 23, 59), ts(2026, 12, 1, 0, 2)
    assert clock.split_by_month(start, end) == [("2026-11", 60.0), ("2026-12", 120.0)]
    plan = plan_accrual(priced(60.0, lifetime_start=start), end, True)
    assert plan is not None
    assert dict(plan.by_month) == pytest.approx({"2026-11": 1.0, "2026-12": 2.0})
    sums = ledger_increments([plan])
    assert sums[("2026-11", Scope.OWNER, "AIDAALICE")] == pytest.approx(1.0)
    assert sums[("2026-12", Scope.TEAM, "ml")] == pytest.approx(2.0)


def test_year_boundary() -> None:
    assert clock.split_by_month(ts(2026, 12, 31, 23, 0), ts(2027, 1, 1, 1, 0)) == [
        ("2026-12", 3600.0),
        ("2027-01", 3600.0),
    ]


def test_ledger_increments_sum_per_owner_and_team() -> None:
    a = plan_accrual(meter("i-1", price=Price(1.0, PriceSource.TABLE)), T0 + 3600, True)
    b = plan_accrual(meter("i-2", price=Price(2.0, PriceSource.TABLE)), T0 + 3600, True)
    c = plan_accrual(meter("i-3", owner="AIDABOB", price=Price(4.0, PriceSource.TABLE)), T0 + 3600, True)
    month = clock.month_of(T0)
    sums = ledger_increments([p for p in (a, b, c) if p])
    assert sums[(month, Scope.OWNER, "AIDAALICE")] == pytest.approx(3.0)
    assert sums[(month, Scope.OWNER, "AIDABOB")] == pytest.approx(4.0)
    assert sums[(month, Scope.TEAM, "ml")] == pytest.approx(7.0)


def test_pack_respects_the_transaction_limit() -> None:
    plans = [plan_accrual(meter(f"i-{n:05d}", owner=f"O{n % 7}", team=f"t{n % 3}"), T0 + 60, True) for n in range(500)]
    batches = pack([p for p in plans if p])
    assert sum(len(b) for b in batches) == 500
    for batch in batches:
        assert len(batch) + len(ledger_increments(batch)) <= 100
    assert len(batches) <= 6  # 500 rows in ~100-item transactions


def test_one_owner_packs_98_rows_per_transaction() -> None:
    plans = [plan_accrual(meter(f"i-{n:05d}"), T0 + 60, True) for n in range(1000)]
    assert [len(b) for b in pack([p for p in plans if p])] == [98] * 10 + [20]


def test_pack_rejects_a_limit_too_small() -> None:
    with pytest.raises(ValueError):
        pack([], max_items=2)
