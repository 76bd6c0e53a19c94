"""Cost accrual: minutes x price / 60, counted exactly once.

Each run charges every billed instance for [accrued_until, now) and advances `accrued_until` to `now`.
The write is conditional on `accrued_until` still holding the value this run read, and it adds to the
instance row and to the owner's and team's ledger rows in one transaction. A retry, or a second reaper
running at the same moment, either finds the condition false (someone else already charged that interval)
or charges the next interval: no interval is ever charged twice.

An instance that is not billed (stopped) still advances `accrued_until`, at zero cost. An interval that
crosses a month boundary is split, each part charged to its month's ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from . import clock
from .records import InstanceRecord
from .schema import Scope

MAX_TRANSACTION_ITEMS = 100  # DynamoDB TransactWriteItems limit


def usd_for(seconds: float, price_usd_hour: float) -> float:
    """minutes x price per hour / 60."""
    return (seconds / 60.0) * price_usd_hour / 60.0


@dataclass(frozen=True)
class Accrual:
    """One instance's charge for [start, until): the write is valid only while `accrued_until == read_until`
    (None: the attribute is absent, the row was never accrued)."""

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


def plan_accrual(row: InstanceRecord, now: float, price_usd_hour: float, billed: bool, team: str) -> Accrual | None:
    """The charge to write for `row` at `now`, or None when there is nothing to advance."""
    start = row.accrual_start
    if now <= start or row.closed:
        return None
    rate = price_usd_hour if billed else 0.0
    by_month = tuple((month, usd_for(seconds, rate)) for month, seconds in clock.split_by_month(start, now))
    return Accrual(
        pk=row.pk,
        sk=row.sk,
        instance_id=row.instance_id,
        owner=row.owner,
        team=team,
        read_until=row.accrued_until,
        start=start,
        until=now,
        usd=sum(usd for _, usd in by_month),
        by_month=by_month,
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
