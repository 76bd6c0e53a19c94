"""The sandbox's emulated systemd reads times as systemd does (pure parts; the rest runs in sandbox hosts,
tests/integration/sandbox/test_hosts.py)."""

from __future__ import annotations

import pytest
from weatherballoon.sandbox.systemd_emulation import Refused, span_seconds, when

NOW = 1_800_000_000.0


def test_shutdown_times_are_now_or_whole_minutes_as_systemd_reads_them() -> None:
    assert when("now", NOW) == NOW
    assert when("+6", NOW) == NOW + 360
    with pytest.raises(Refused, match=r"Failed to parse time specification: \+0\.05"):
        when("+0.05", NOW)  # the old sandbox took fractions; systemd's shutdown does not
    at = when("23:59", NOW)
    assert NOW < at <= NOW + 86400


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("30", 30), ("2min", 120), ("1h", 3600), (" 5 sec ", 5)])
def test_timer_spans(text: str, seconds: float) -> None:
    assert span_seconds(text, "x.timer") == seconds


def test_a_span_it_cannot_read_is_refused_not_guessed() -> None:
    with pytest.raises(Refused, match=r"cannot emulate the time span '1min 30s'"):
        span_seconds("1min 30s", "x.timer")
