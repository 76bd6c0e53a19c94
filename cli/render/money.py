"""Money as wb shows it (the rule lives in `lambdas/money.py`, which the reaper's reasons use too)."""

from __future__ import annotations

from weatherballoon.lambdas.money import format_usd

__all__ = ["format_usd", "format_usd_or"]


def format_usd_or(value: float | None, missing: str | None) -> str | None:
    """`format_usd`, or `missing` when there is no amount (a budget that is not set, say)."""
    return missing if value is None else format_usd(value)
