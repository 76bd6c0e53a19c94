"""Cost accrual: minutes x price / 60, counted exactly once, on the reaper's own meter rows.

Each run charges every wb instance EC2 lists for [accrued_until, now) and advances the meter's
`accrued_until` to `now` (the first charge starts at the meter's `lifetime_start`). The write is conditional on
`accrued_until` still holding the value this run read (or, for a new meter, on there being none), and it adds
to the meter and to the owner's and team's ledger rows in one transaction. A retry, or a second reaper running
at the same moment, either finds the condition false (someone else already charged that interval) or charges
the next interval: no interval is ever charged twice.

An instance that is not billed (stopped) still advances `accrued_until`, at zero cost. An interval that
crosses a month boundary is split, each part charged to its month's ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import clock
from .meter import MeterRecord
from .schema import Scope

MAX_TRANSACTION_ITEMS = 100  # DynamoDB TransactWriteItems limit


def usd_for(seconds: float, price_usd_hour: float) -> float:
    """minutes x price per hour / 60."""
    return (seconds / 60.0) * price_usd_hour / 60.0


@dataclass(frozen=True)
class Accrual:
    """One instance's charge for [start, until) on its meter: the write is valid only while
    `accrued_until == read_until` (None: a new meter, written whole from `attributes`)."""

    pk: str
    sk: str
    instance_id: str
    owner: str
    team: str
    read_until: float | None
    start: float
    until: float
    usd: float
    by_month: tuple[tuple[str, float], ...]
    attributes: Mapping[str, Any] = field(default_factory=dict)  # the meter after this charge (keys excluded)

    @property
    def seconds(self) -> float:
        return self.until - self.start

    def ledger_keys(self) -> list[tuple[str, Scope, str]]:
        keys: list[tuple[str, Scope, str]] = []
        for month, usd in self.by_month:
            if usd > 0:
                keys.append((month, Scope.OWNER, self.owner))
                keys.append((month, Scope.TEAM, self.team))
        return keys


def plan_accrual(meter: MeterRecord, now: float, billed: bool) -> Accrual | None:
    """The charge to write on `meter` at `now`, or None when there is nothing to advance. A new meter with
    nothing to charge yet is still written (its price and lifetime start must be recorded)."""
    start = meter.accrual_start
    if now < start or (now == start and meter.accrued_until is not None):
        return None
    rate = meter.price_usd_hour if billed else 0.0
    by_month = tuple((month, usd_for(seconds, rate)) for month, seconds in clock.split_by_month(start, now))
    usd = sum(charge for _, charge in by_month)
    after = meter.replace(accrued_until=now, accrued_usd=meter.accrued_usd + usd)
    return Accrual(
        pk=meter.pk,
        sk=meter.sk,
        instance_id=meter.instance_id,
        owner=meter.owner,
        team=meter.team,
        read_until=meter.accrued_until,
        start=start,
        until=now,
        usd=usd,
        by_month=by_month,
        attributes=after.attributes(),
    )


def ledger_increments(accruals: Iterable[Accrual]) -> dict[tuple[str, Scope, str], float]:
    """(month, scope, name) -> USD to add, over a set of accruals written together."""
    totals: dict[tuple[str, Scope, str], float] = {}
    for accrual in accruals:
        for month, usd in accrual.by_month:
            if usd <= 0:
                continue
            for key in ((month, Scope.OWNER, accrual.owner), (month, Scope.TEAM, accrual.team)):
                totals[key] = totals.get(key, 0.0) + usd
    return totals


def pack(accruals: Sequence[Accrual], max_items: int = MAX_TRANSACTION_ITEMS) -> list[list[Accrual]]:
    """Group accruals into transactions of at most `max_items` writes: one per instance row plus one per
    distinct ledger row. Sorting by team and owner keeps ledger rows shared within a transaction."""
    if max_items < 3:
        raise ValueError("a transaction needs room for a row and two ledger rows")
    batches: list[list[Accrual]] = []
    current: list[Accrual] = []
    keys: set[tuple[str, Scope, str]] = set()
    for accrual in sorted(accruals, key=lambda a: (a.team, a.owner, a.instance_id)):
        new_keys = set(accrual.ledger_keys()) - keys
        if current and len(current) + 1 + len(keys) + len(new_keys) > max_items:
            batches.append(current)
            current, keys = [], set()
            new_keys = set(accrual.ledger_keys())
        current.append(accrual)
        keys |= new_keys
    if current:
        batches.append(current)
    return batches
