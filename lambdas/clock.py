"""Time as the supervision model sees it: float epoch seconds, UTC, and the calendar keys built from them."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    Clock = Callable[[], float]

SECONDS_PER_DAY = 86400


def system_clock() -> float:
    return time.time()


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def iso(t: float) -> str:
    """`2026-11-24T10:15:30.250Z`: millisecond precision, sortable as text."""
    stamp = utc(t)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def month_of(t: float) -> str:
    """Ledger month key, `YYYY-MM`."""
    return utc(t).strftime("%Y-%m")


def day_of(t: float) -> str:
    """Audit partition key day, `YYYY-MM-DD`."""
    return utc(t).strftime("%Y-%m-%d")


def next_month_start(t: float) -> float:
    stamp = utc(t)
    year, month = (stamp.year + 1, 1) if stamp.month == 12 else (stamp.year, stamp.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.utc).timestamp()


def split_by_month(start: float, end: float) -> list[tuple[str, float]]:
    """The interval [start, end) cut at month boundaries: [(YYYY-MM, seconds), ...], in time order."""
    pieces: list[tuple[str, float]] = []
    cursor = start
    while cursor < end:
        boundary = min(next_month_start(cursor), end)
        pieces.append((month_of(cursor), boundary - cursor))
        cursor = boundary
    return pieces
