"""The ranges of supervision numbers: finite, bounded, and the error says what is allowed."""

from __future__ import annotations

import pytest
from weatherballoon.lambdas import limits


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "Infinity", "1e400", "NaN"])
def test_non_finite_is_in_no_range(text: str) -> None:
    for limit in (limits.LEASE_MINUTES, limits.IDLE_MINUTES, limits.MAX_HOURS, limits.JOB_MAX_TIME_S,
                  limits.JOB_MAX_COST_USD, limits.BUDGET_USD):  # fmt: skip
        with pytest.raises(ValueError, match="is not a finite number; it must be"):
            limit.parse(text)


def test_bounds_are_inclusive_or_open_as_declared() -> None:
    assert limits.IDLE_MINUTES.parse("0") == 0.0
    assert limits.LEASE_MINUTES.parse("1440") == 1440.0
    with pytest.raises(ValueError, match="more than 0 and at most 1,440 minutes"):
        limits.LEASE_MINUTES.parse("0")
    with pytest.raises(ValueError, match="out of range"):
        limits.LEASE_MINUTES.parse(1440.5)
    with pytest.raises(ValueError, match="at least 0 and at most 1,000,000,000 USD"):
        limits.BUDGET_USD.parse(-0.01)


def test_the_job_time_cap_stays_below_what_the_supervisor_can_wait() -> None:
    # sigtimedwait and threading waits overflow at about 9.2e9 s; the cap is far below.
    assert limits.JOB_MAX_TIME_S.high < 9.2e9
    with pytest.raises(ValueError):
        limits.JOB_MAX_TIME_S.parse("9.3e9")


def test_text_that_is_no_number_says_so() -> None:
    with pytest.raises(ValueError, match="'soon' is not a number"):
        limits.MAX_HOURS.parse("soon")
